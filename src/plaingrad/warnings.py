"""Warning categories. Tests turn ``PlaingradWarning`` into errors."""


class PlaingradWarning(UserWarning):
    """Base class of the warnings plaingrad issues about suspicious use."""
