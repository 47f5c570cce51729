"""The verification and customer portal: a thin web front end over the lims services.

``lims portal serve`` runs it (:mod:`lims.portal.server`); :func:`create_app`
builds the ASGI application. The lims core never imports this package.
"""

from lims.portal.app import create_app

__all__ = ["create_app"]
