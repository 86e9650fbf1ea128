from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, IntegerField, PasswordField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CreateUserForm(FlaskForm):
    # The rules (valid and unique email, name, password length, allowed roles) are checked in
    # users.create_work_user, which gives the messages; the form only bounds the input.
    email = EmailField(_l("Official work email"), validators=[Length(max=254)])
    display_name = StringField(_l("Display name"), validators=[Length(max=200)])
    roles = CheckboxesField(_l("Roles"), choices=[], validate_choice=False)
    password = PasswordField(_l("Initial password"), validators=[Length(max=1024)])
    submit = SubmitField(_l("Create work user"))


class DeleteUserForm(FlaskForm):
    submit = SubmitField(_l("Delete work user"))


class SetClockForm(FlaskForm):
    date = DateField(_l("Simulated date"), validators=[InputRequired(_l("Enter a date (YYYY-MM-DD)."))])
    submit = SubmitField(_l("Set date"))


class AdvanceClockForm(FlaskForm):
    days = IntegerField(_l("Days"), validators=[
        InputRequired(_l("Enter a number of days.")),
        NumberRange(min=1, max=3650, message=_l("Enter a number of days between 1 and 3650.")),
    ])
    submit = SubmitField(_l("Advance"))


class ResetClockForm(FlaskForm):
    submit = SubmitField(_l("Back to real time"))


class RefreshAllForm(FlaskForm):
    submit = SubmitField(_l("Refresh every organization's data now"))
