"""Source-format parsers, one module per format, all registered in REGISTRY.

Import order is detection order: put formats with a precise signature before looser ones.
"""

from evidence.parsers.registry import REGISTRY, register

# --- parser modules (keep one import per line; order = detection order) ---
# isort: off
from evidence.parsers import image  # noqa: F401
from evidence.parsers import outlook_msg  # noqa: F401
from evidence.parsers import mbox  # noqa: F401
from evidence.parsers import email_eml  # noqa: F401
from evidence.parsers import telegram_json  # noqa: F401
from evidence.parsers import telegram_html  # noqa: F401
from evidence.parsers import sms_backup_xml  # noqa: F401
from evidence.parsers import whatsapp  # noqa: F401
from evidence.parsers import signal_text  # noqa: F401
from evidence.parsers import instagram_json  # noqa: F401
from evidence.parsers import imessage_db  # noqa: F401
from evidence.parsers import discord_json  # noqa: F401
from evidence.parsers import google_chat_json  # noqa: F401
from evidence.parsers import google_voice_html  # noqa: F401
# --- end of parser modules ---
# isort: on

__all__ = ["REGISTRY", "register"]
