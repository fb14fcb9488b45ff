"""CatalogColumns' facet counts, against counts made by hand."""

from __future__ import annotations

import numpy as np

from shelf.catalog import Item
from shelf.search.filters import CatalogColumns


def _item(item_id: str, category: list[str], **attributes: object) -> Item:
    return Item(item_id=item_id, title=item_id, category=category, attributes=attributes)


def test_facets_count_each_level_and_each_value_once_per_item() -> None:
    columns = CatalogColumns()
    columns.add(
        [
            _item("a", ["Tools", "Drills"], color=["Red", "Red", "Black"], material="Steel"),
            _item("b", ["Tools", "Saws", "Circular"], color="Red"),
            _item("c", ["Garden"], material="Steel"),
        ]
    )
    columns.add([_item("d", ["Tools", "Drills"], color=["Black"], finish="Matte")])

    facets = columns.facets(np.array([0, 1, 2, 3]))
    assert facets["category.0"] == {"Tools": 3, "Garden": 1}
    assert facets["category.1"] == {"Tools > Drills": 2, "Tools > Saws": 1}
    assert facets["category.2"] == {"Tools > Saws > Circular": 1}
    # "Red" twice on item a counts once; ties are listed by name
    assert facets["attributes.color"] == {"Black": 2, "Red": 2}
    assert facets["attributes.material"] == {"Steel": 2}
    assert facets["attributes.finish"] == {"Matte": 1}
    assert [k for k in facets if k.startswith(("category", "attributes"))] == [
        "category.0",
        "category.1",
        "category.2",
        "attributes.color",
        "attributes.finish",
        "attributes.material",
    ]

    only = columns.facets(np.array([2, 3]))  # a subset, including an item of the second add
    assert only["category.1"] == {"Tools > Drills": 1}
    assert only["attributes.color"] == {"Black": 1}
    assert "category.2" not in only
    assert columns.facets(np.array([], dtype=np.int64)) == {}
    assert list(columns.facets(np.array([0, 1, 2, 3]), top=1)["category.0"]) == ["Tools"]
