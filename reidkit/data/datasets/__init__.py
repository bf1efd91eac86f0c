"""Built-in datasets; importing this package registers them."""

from reidkit.data.datasets import cuhk03  # noqa: F401
