"""Extension objects, created once and bound to the app in create_app."""
from functools import cache

from authlib.integrations.flask_client import OAuth
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import bindparam, select
from sqlalchemy.orm import DeclarativeBase, joinedload


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
# Batch mode lets SQLite apply ALTER TABLE steps by copying the table.
migrate = Migrate(render_as_batch=True, compare_type=True)
oauth = OAuth()


@login_manager.user_loader
def load_work_user(user_id: str):
    row_id, _sep, rest = str(user_id).partition(":")
    created, _sep, version = rest.rpartition(":")  # created_at itself contains colons
    try:
        # Most pages name the user's organization: loaded with the user, in the same query.
        user = db.session.execute(_work_user_stmt(), {"id": int(row_id)}).scalar_one_or_none()
    except (TypeError, ValueError):
        return None
    # A deleted work account loses its sessions at once; so does one whose id now names
    # another (newer) user.
    if user is None or user.deleted_at is not None or user.created_at.isoformat() != created:
        return None
    # Signed out (or reset) since this session began: the cookie is no longer good.
    if version != str(user.session_version or 0):
        return None
    return user


@cache
def _work_user_stmt():
    # Built once per process: every signed-in request loads its user, and building the
    # statement (as Session.get does each time) costs more than running it.
    from .models import WorkUser

    return select(WorkUser).options(joinedload(WorkUser.organization)).where(WorkUser.id == bindparam("id"))
