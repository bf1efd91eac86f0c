"""reidkit: find a person in videos and images from one photo; a person re-identification toolkit.

Data flows one way through the product stages::

    media -> detect -> track -> embed -> index -> search -> app

The toolkit (``data``, ``models``, ``train``, ``evaluate``, ``export``) feeds ``embed`` through exported
model files; no product stage imports the toolkit, so the search path never needs torch.
"""

__version__ = "0.1.0"
