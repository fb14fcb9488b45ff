"""Routes of the web page. Each page is a thin template; its data comes from the JSON API
named in the page (its JSON twin), so what a person sees is exactly what a client gets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
static = StaticFiles(directory=str(HERE / "static"))


def _page(request: Request, name: str, **context: object) -> HTMLResponse:
    settings = request.app.state.engine.settings
    shared = {"page_key": settings.page_key, "page_notice": settings.page_notice}
    return templates.TemplateResponse(request, name, {**shared, **context})


def login_page(request: Request, message: str, status_code: int) -> HTMLResponse:
    """The sign-in form an admin page answers with when its caller has no admin key."""
    response = _page(request, "login.html", message=message, next=request.url.path, twin="/health")
    response.status_code = status_code
    return response


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    """Search as you type, with facets and the understood query. Twin: GET /search."""
    return _page(request, "search.html", twin="/search?q=")


@router.get("/product/{item_id}", response_class=HTMLResponse)
def product_page(
    request: Request, item_id: Annotated[str, PathParam(max_length=256)]
) -> HTMLResponse:
    """A product with similar and bought-together items. Twins: /items/{id}, .../similar."""
    return _page(request, "product.html", item_id=item_id, twin=f"/items/{item_id}")


@router.get("/for-you", response_class=HTMLResponse)
def for_you_page(request: Request) -> HTMLResponse:
    """Recommendations for a user or session, with reasons. Twin: /users/{id}/recommendations."""
    return _page(request, "for_you.html", twin="/users/{user_id}/recommendations")


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request) -> HTMLResponse:
    """Catalog and event counts, model versions and their metrics as plots. Twin: /stats."""
    return _page(request, "admin.html", twin="/stats")
