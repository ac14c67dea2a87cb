"""Bulk replay: filters, a dry-run count, confirm, then a live progress page
that polls the admin API (/api/replays/<id>) every second."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bridge import replay, search
from bridge.errors import BadFilter, NotFound
from bridge.store.tables import ReplayJobRow
from bridge.web.dashboard.blueprint import bridge, dashboard
from bridge.web.dashboard.events import filter_values, form_context, parse_filters
from bridge.web.dashboard.guard import actor


def _recent_jobs(limit: int = 10) -> list[dict]:
    with bridge().db.session() as session:
        return [replay.job_view(job) for job in
                session.scalars(select(ReplayJobRow).order_by(ReplayJobRow.id.desc()).limit(limit))]


def _form(values: dict, error: str | None = None, status: int = 200):
    return render_template("dashboard/replay_form.html", error=error, jobs=_recent_jobs(),
                           **form_context(values)), status


def _checked_filters(values: dict):
    """The filter, or the message to show; a bulk replay needs at least one filter."""
    if not any(values.values()):
        return None, "Choose at least one filter, for example status “failed” and a connection."
    try:
        return parse_filters(values), None
    except BadFilter as problem:
        return None, problem.message


@dashboard.get("/replays")
def replays():
    values = filter_values(request.args)
    if not any(values.values()):
        values["status"] = "failed"
    return _form(values)


@dashboard.post("/replays/preview")
def preview_replay():
    values = filter_values(request.form)
    flt, error = _checked_filters(values)
    if error:
        return _form(values, error, 400)
    with bridge().db.session() as session:
        matching = search.count(session, flt)
    return render_template("dashboard/replay_confirm.html", matching=matching, filters=values,
                           described=flt.as_dict(), **{k: v for k, v in form_context(values).items()
                                                       if k != "filters"})


@dashboard.post("/replays")
def start_replay():
    values = filter_values(request.form)
    flt, error = _checked_filters(values)
    if error:
        return _form(values, error, 400)
    job = replay.start_job(bridge().db, flt, actor())
    if job.status == "running":
        bridge().dispatcher.replay_job(job.id)
    return redirect(url_for("dashboard.replay_progress", job_id=job.id))


def _job(job_id: str) -> dict:
    if not job_id.isdigit():
        raise NotFound(f"There is no replay {job_id!r}.")
    with bridge().db.session() as session:
        job = session.get(ReplayJobRow, int(job_id))
        if job is None:
            raise NotFound(f"There is no replay {job_id}.")
        return replay.job_view(job)


@dashboard.get("/replays/<job_id>")
def replay_progress(job_id: str):
    job = _job(job_id)
    return render_template("dashboard/replay_progress.html", job=job,
                           status_url=url_for("admin_api.show_replay", job_id=job["id"]))


@dashboard.post("/replays/<job_id>/cancel")
def cancel_replay(job_id: str):
    job = _job(job_id)
    replay.cancel_job(bridge().db, job["id"], actor())
    flash("Replay cancelled. Events already replayed stay replayed; none is left half-done.", "ok")
    return redirect(url_for("dashboard.replay_progress", job_id=job["id"]))
