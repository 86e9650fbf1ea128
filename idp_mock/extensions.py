"""Flask extensions of the providers, bound to the app in ``create_app``."""
from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
# Batch mode lets SQLite apply ALTER TABLE steps by copying the table.
migrate = Migrate(render_as_batch=True, compare_type=True)
# Every POST needs a CSRF token, except the token, userinfo and logout endpoints and the
# bearer-token QA API (exempted where they are defined).
csrf = CSRFProtect()
