"""mesh-migrator: find and fix Istio/SPIRE version-boundary breakages in GitOps repositories."""

__version__ = "0.1.0"
