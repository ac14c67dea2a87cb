"""INSERT … ON CONFLICT DO NOTHING, which both stores speak.

A row another writer stored a moment ago is then simply looked up: no
savepoint, no exception to recover from, one round trip. Statements are built
once per model and store; values are passed by attribute name, as the models
spell them.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}
_statements: dict = {}


@cache
def _column_names(model) -> dict[str, str]:
    """Attribute name -> column name. Core speaks column names
    (TransactionRow.extra is the `metadata` column)."""
    return {attribute.key: attribute.columns[0].name for attribute in model.__mapper__.column_attrs}


def insert_or_nothing(session: Session, model, values: dict, returning: str | None = None):
    """Insert one row unless a unique key already holds it; with `returning`,
    the result carries that column of the new row (and no row on a conflict)."""
    dialect = session.get_bind().dialect.name
    columns = _column_names(model)
    key = (model, dialect, returning)
    if (statement := _statements.get(key)) is None:
        statement = _DIALECTS[dialect].insert(model.__table__).on_conflict_do_nothing()
        if returning:
            statement = statement.returning(model.__table__.c[columns[returning]])
        _statements[key] = statement
    # An unknown key would be dropped silently by Core, so it raises here instead.
    return session.execute(statement, {columns[name]: value for name, value in values.items()})
