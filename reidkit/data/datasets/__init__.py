"""Built-in datasets; importing this package registers them."""

from reidkit.data.datasets import (  # noqa: F401
    cuhk01,
    cuhk03,
    dukemtmc,
    folder,
    market1501,
    msmt17,
    veri776,
    viper,
)
