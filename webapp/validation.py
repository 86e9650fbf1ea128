"""The error a service raises for input that breaks a rule."""


class ValidationError(ValueError):
    """Input that breaks a rule; the message is meant for the person who typed it.

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
