"""Lightspeed X-Series (formerly Vend): closed sales award, returns and voids reverse."""

from bridge.registry import register
from connectors.lightspeed.connector import LightspeedConnector

register(LightspeedConnector)
