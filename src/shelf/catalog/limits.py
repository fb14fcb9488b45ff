"""How large one record may be: every bound on an item or an event, in one place.

A catalog is shared by every request: one item with 300,000 attributes once made every later
search take seconds and answer 10 MB. These bounds are checked by the models of
:mod:`shelf.catalog.types`, so files (the importers) and HTTP bodies meet the same ones, and a
record over a bound is refused with a 422 naming the field and the bound. The numbers leave
room for what shop feeds really hold (noted per bound); the README's item table lists them.
"""

from __future__ import annotations

from typing import Final

# -- ids and text ---------------------------------------------------------------------------
MAX_ID_LENGTH: Final = 256  # item and user ids; the store's item_id columns are varchar(256)
MAX_TITLE_LENGTH: Final = 1_000  # Google Merchant allows 150, Amazon 200-500
MAX_DESCRIPTION_LENGTH: Final = 20_000  # Google Merchant 5,000, Amazon 2,000; HTML shops more
MAX_BRAND_LENGTH: Final = 256  # Google Merchant allows 70
MAX_IMAGE_URL_LENGTH: Final = 2_048  # what browsers and CDNs reliably handle
IMAGE_URL_SCHEMES: Final = frozenset({"http", "https"})  # or a relative URL (no scheme)

# -- category path --------------------------------------------------------------------------
MAX_CATEGORY_DEPTH: Final = 10  # Google's product taxonomy is at most 7 levels deep
MAX_CATEGORY_NAME_LENGTH: Final = 200  # its longest level name is under 100 characters

# -- attributes ------------------------------------------------------------------------------
MAX_ATTRIBUTES: Final = 100  # rich product data has tens (colour, size, material, watts ...)
MAX_ATTRIBUTE_NAME_LENGTH: Final = 128
MAX_ATTRIBUTE_VALUE_LENGTH: Final = 1_000  # one value; a bullet point is a few hundred
MAX_ATTRIBUTE_VALUES: Final = 250  # one list; Shopify allows 250 tags per product
MAX_ATTRIBUTES_TEXT: Final = 100_000  # every attribute name and text value together

# -- events ----------------------------------------------------------------------------------
# The store's event_id and session_id columns are varchar of these widths (store/schema.py):
# a longer value would pass validation and then fail the whole batch in PostgreSQL.
MAX_EVENT_ID_LENGTH: Final = 256
MAX_SESSION_ID_LENGTH: Final = 256
MAX_QUERY_LENGTH: Final = 512  # a search event's query, as GET /search's ``q``
