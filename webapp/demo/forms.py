from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField
from wtforms.validators import DataRequired


class ResetDemoForm(FlaskForm):
    confirm = BooleanField(
        _l("I understand that every link, trace, user and setting made since the seed is deleted."),
        validators=[DataRequired(message=_l("Tick the box to confirm the reset."))])
    submit = SubmitField(_l("Reset the demo"))
