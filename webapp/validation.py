"""The error a service raises for input that breaks a rule."""


class ValidationError(ValueError):
    """Input that breaks a rule; the message is meant for the person who typed it.

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class FieldErrors(ValidationError):
    """Several fields' problems found together, so a form can show them all at once.

    ``errors`` are the single ValidationErrors; ``message`` is the first one's (for callers that
    show one line, such as the command line).
    """

    def __init__(self, errors: list[ValidationError]):
        super().__init__("; ".join(e.message for e in errors), errors[0].field)
        self.errors = errors
