"""The Flask app factory."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from flask import Flask

from bridge.buckets import Rate
from bridge.config import Config
from bridge.dispatch import Dispatcher, NullDispatcher
from bridge.logs import configure_logging
from bridge.store import Database
from bridge.web.admin_api import api as admin_api
from bridge.web.claim_page import claim_page
from bridge.web.claims_api import claims_api
from bridge.web.dashboard import dashboard
from bridge.web.golive_api import golive_api
from bridge.web.health import health
from bridge.web.hooks import hooks
from bridge.web.limits import IngestLimits
from bridge.web.problems import register_problem_handlers


@dataclass
class BridgeState:
    """What every request and task reaches through `app.extensions["bridge"]`."""

    config: Config
    db: Database
    dispatcher: Dispatcher


def create_app(config: Config | None = None, dispatcher: Dispatcher | None = None,
               db: Database | None = None) -> Flask:
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.config["TESTING"] = config.testing
    # A redirect is a failed delivery to Square; never answer 3xx.
    app.url_map.strict_slashes = False
    db = db or Database(config.database_url, config.secret_key)
    app.extensions["bridge"] = BridgeState(config=config, db=db, dispatcher=dispatcher or NullDispatcher())
    app.extensions["ingest_limits"] = IngestLimits(
        Rate.parse(config.rate_limit), Rate.parse(config.address_rate_limit), config.redis_url)
    app.extensions["claim_limits"] = IngestLimits(Rate.parse(config.claim_rate_limit),
                                                  Rate.parse(config.claim_address_rate_limit), config.redis_url,
                                                  name="claim")
    register_problem_handlers(app)
    app.register_blueprint(hooks)
    app.register_blueprint(health)
    app.register_blueprint(admin_api)
    app.register_blueprint(golive_api)
    app.register_blueprint(claims_api)
    app.register_blueprint(dashboard)
    app.register_blueprint(claim_page)
    # Signs the dashboard's session cookie; without a configured secret a
    # restart simply logs dashboard users out.
    app.secret_key = config.secret_key or config.admin_token or secrets.token_hex(32)
    if config.mount_sandbox:
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        from bridge.sandbox import create_sandbox_app

        sandbox = create_sandbox_app()
        app.extensions["sandbox"] = sandbox
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/sandbox": sandbox})
    if config.log_format == "json":
        configure_logging("json")
    logging.getLogger("bridge").setLevel(logging.INFO)
    return app


def bridge_state(app: Flask) -> BridgeState:
    return app.extensions["bridge"]
