"""CloudMart: a cost-aware, cloud-native commerce platform."""

__version__ = "0.1.0"
