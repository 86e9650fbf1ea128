"""Extension objects, created once and bound to the app in create_app."""
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# What a request loaded stays loaded after its commit (as in the providers): linking, removing
# and signing in then redirect or render from it instead of reading each row again. Code that
# needs another process's changes reads them explicitly (e.g. reports/jobs.py populate_existing).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
login_manager = LoginManager()
csrf = CSRFProtect()
# Batch mode lets SQLite apply ALTER TABLE steps by copying the table.
migrate = Migrate(render_as_batch=True, compare_type=True)
