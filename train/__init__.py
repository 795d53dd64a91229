"""talent-policy-tagger: entities, metrics and measure classes in Chinese talent-policy news."""

__version__ = "0.1.0"
