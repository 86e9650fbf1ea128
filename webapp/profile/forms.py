from flask_wtf import FlaskForm
from wtforms import HiddenField


class LanguageForm(FlaskForm):
    """The language switcher: saving the preference is a state change, so a CSRF-protected POST."""
    lang = HiddenField()
    next = HiddenField()


class RefreshAchievementsForm(FlaskForm):
    """A learner's refresh of their own achievements: a write, so a CSRF-protected POST."""
