"""Portuguese and English: the catalog is complete and compiled, the language is chosen as
gettext does, and the CLI's real output reads in the chosen language."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from provador.base import i18n
from provador.cli import main

PACKAGE = Path(i18n.__file__).parent.parent  # src/provador
CATALOG = PACKAGE / "locale" / "pt" / "LC_MESSAGES" / "provador.po"
PLACEHOLDER = re.compile(r"\{(\w*)[^}]*\}|%\((\w+)\)\w|%\w")


def marked_strings() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        PACKAGE, method_map=[("**.py", "python")], keywords=DEFAULT_KEYWORDS
    ):
        found.update(message if isinstance(message, tuple) else (message,))
    return found - {""}


def test_every_marked_string_has_a_checked_portuguese_translation():
    catalog = read_po(CATALOG.open("rb"))
    entries = {m.id: m for m in catalog if m.id}
    marked = marked_strings()
    assert len(marked) > 150
    missing = sorted(marked - set(entries))
    assert not missing, f"marked but not in {CATALOG.name} (run `make translations`): {missing[:5]}"
    for message_id in marked:
        entry = entries[message_id]
        assert entry.string, f"no Portuguese for {message_id!r}"
        assert not entry.fuzzy, f"fuzzy translation for {message_id!r}"
        assert sorted(PLACEHOLDER.findall(message_id)) == sorted(PLACEHOLDER.findall(entry.string)), message_id
    assert not catalog.obsolete, "obsolete entries left in the catalog"


def test_no_literal_is_marked_inside_an_f_string():
    """Babel cannot see `_("…")` inside an f-string's braces: such a string would never be translated."""
    hidden = re.compile(r"""f["'][^"'\n]*\{[^}]*\b_\(["']""")
    found = [f"{path.name}:{n}" for path in PACKAGE.rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if hidden.search(line)]  # fmt: skip
    assert not found, found


def test_the_shipped_mo_file_is_compiled_from_the_po_file():
    catalog = read_po(CATALOG.open("rb"))
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert CATALOG.with_suffix(".mo").read_bytes() == compiled.getvalue(), "stale .mo: run `make translations`"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"LANG": "pt_BR.UTF-8"}, "pt"),
        ({"LANG": "pt_PT.UTF-8"}, "pt"),
        ({"LANGUAGE": "fr:pt_BR", "LANG": "en_US.UTF-8"}, "pt"),
        ({"LC_ALL": "de_DE.UTF-8", "LANG": "pt_BR.UTF-8"}, "en"),  # LC_ALL wins, and is not ours
        ({"PROVADOR_LANG": "pt", "LANG": "en_US.UTF-8"}, "pt"),
        ({"LANG": "klingon"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_comes_from_the_environment_in_gettexts_order(monkeypatch, environment, expected):
    for name in i18n.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert i18n.from_environment() == expected


def test_an_unknown_lang_is_refused_with_the_choices(capsys):
    assert main(["--lang", "fr", "recipes"]) == 2
    err = capsys.readouterr().err
    assert "Expected --lang to be one of: en (English), pt (português (Brasil)). Received: 'fr'" in err


def test_numbers_and_class_names_follow_the_language():
    with i18n.language("pt"):
        assert (i18n.number(0.87971), i18n.number(59000, 0), i18n.percent(0.8797)) == ("0,8797", "59.000", "88,0%")
        assert [i18n.class_name(n) for n in ("T-shirt/top", "Sneaker", "Ankle boot")] == [
            "Camiseta/top",
            "Tênis",
            "Bota",
        ]
    assert (i18n.number(0.87971), i18n.number(59000, 0), i18n.class_name("Sneaker")) == ("0.8797", "59,000", "Sneaker")
    assert i18n.class_name("7") == "7"  # another dataset's labels pass through


def test_cli_speaks_portuguese_under_a_brazilian_locale(tiny_run, capsys, monkeypatch, tmp_path):
    run, data_dir = tiny_run
    monkeypatch.delenv("PROVADOR_LANG")
    monkeypatch.setenv("LANG", "pt_BR.UTF-8")
    assert main(["evaluate", str(run.path), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    accuracy = json.loads((run.path / "metrics.json").read_text())["test"]["accuracy"]
    assert f"Acurácia no teste: {accuracy:.4f}".replace(".", ",") in out
    assert "Matriz de confusão (linhas: classe verdadeira, colunas: prevista)" in out and "precisão" in out
    assert main(["runs", "--runs-dir", str(run.path.parent)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["execução", "receita", "modelo"] and "concluída" in out
    # errors: what was expected and how to fix it, in Portuguese
    assert main(["evaluate", str(tmp_path / "nada")]) == 1
    assert "Erro: A pasta de execução" in capsys.readouterr().err
    # argparse's own words too: help, usage errors and the "did you mean"
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    help_text = capsys.readouterr().out
    assert help_text.startswith("uso: provador predict") and "mostrar esta ajuda e sair" in help_text
    assert "quantas classes listar por imagem (padrão 3)" in help_text
    with pytest.raises(SystemExit) as exited:
        main(["trian"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "escolha inválida: 'trian'" in err and "Você quis dizer `train`?" in err


def test_json_is_the_same_in_every_language(tiny_run, capsys):
    run, data_dir = tiny_run
    outputs = []
    for lang in ("en", "pt"):
        assert (
            main(
                ["--lang", lang, "predict", str(run.path), "--test-index", "0:3", "--json", "--data-dir", str(data_dir)]
            )
            == 0
        )
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] and outputs[0][0]["label"] in [str(i) for i in range(10)]


def test_report_redrawn_in_portuguese(run_copy, capsys):
    run, data_dir = run_copy
    assert main(["report", str(run.path), "--data-dir", str(data_dir), "--lang", "pt"]) == 0
    page = (run.path / "report.html").read_text()
    assert '<html lang="pt">' in page and "<h2>Curvas de aprendizado</h2>" in page
    assert "Acurácia no teste <b>" in page and "Feito pelo provador." in page
    assert i18n.current() == "en"  # --lang held for that command only (PROVADOR_LANG=en, conftest)


# --- the server: API errors and localized fields in the request's language; the page and its switch ---


@pytest.fixture(scope="module")
def api(tiny_run):
    from fastapi.testclient import TestClient

    from provador.serve import create_app

    run, data_dir = tiny_run
    with TestClient(create_app(run, data_dir=data_dir)) as client:
        yield client


def test_api_answers_errors_in_the_requests_language_and_keeps_labels_canonical(api):
    empty = api.post("/v1/predict", content=b"", headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"})
    assert empty.status_code == 400 and empty.json()["error"].startswith("O corpo da requisição está vazio")
    assert api.post("/v1/predict?lang=pt", content=b"").json()["error"].startswith("O corpo da requisição")
    assert api.post("/v1/predict", content=b"").json()["error"].startswith("The request body is empty")
    images = {"images": [[[0] * 28] * 28]}
    english = api.post("/v1/predict", json=images).json()["predictions"][0]
    portuguese = api.post("/v1/predict", json=images, headers={"Accept-Language": "pt-BR"}).json()["predictions"][0]
    assert english["label"] == portuguese["label"] == portuguese["label_localized"]  # the tiny set's labels are digits
    assert {k: v for k, v in english.items() if not k.endswith("_localized")} == {
        k: v for k, v in portuguese.items() if not k.endswith("_localized")
    }
    assert api.get("/v1/model", headers={"Accept-Language": "pt"}).json()["classes_localized"]["3"] == "3"


def test_the_page_follows_the_browser_and_remembers_the_switch(api):
    page = api.get("/", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert '<html lang="pt">' in page.text and "Solte aqui a foto de uma peça de roupa" in page.text
    assert '"classes": {"0": "0"' in page.text  # the script's class names, localized (digits here)
    english = api.get("/?lang=en", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="en">' in english.text and "Drop a photo of a garment here" in english.text
    assert "provador_lang=en" in english.headers["set-cookie"]
    api.cookies.set("provador_lang", "en")
    assert '<html lang="en">' in api.get("/", headers={"Accept-Language": "pt-BR"}).text  # the cookie wins
    api.cookies.clear()
    assert i18n.from_accept_language("fr-FR,fr;q=0.9,pt;q=0.5,en;q=0.4") == "pt"
    assert i18n.from_accept_language("da, en-gb;q=0.8") == "en" and i18n.from_accept_language("da") is None


@pytest.mark.slow
def test_the_page_in_chromium_speaks_portuguese_and_switches_to_english(tiny_run, tmp_path):
    from selenium.webdriver.common.by import By

    from tests.conftest import chromium
    from tests.serve.test_browser import wait_for

    driver = chromium(
        "--lang=pt-BR", prefs={"intl.accept_languages": "pt-BR,pt"}
    )  # before the server: a skip leaves none
    url, server = _start_server(tiny_run)
    try:
        driver.get(url + "/")
        line = wait_for(lambda: driver.find_element(By.ID, "model-line").text.startswith("Modelo ") and
                        driver.find_element(By.ID, "model-line").text)  # fmt: skip
        assert "acurácia no teste" in line and "," in line.split("acurácia no teste")[1]  # 87,5%, not 87.5%
        assert "Solte aqui a foto" in driver.find_element(By.ID, "drop").text
        assert not driver.find_element(By.ID, "result").is_displayed()  # no answer before a picture
        driver.find_element(By.CSS_SELECTOR, "#languages a[data-lang=en]").click()
        wait_for(lambda: "Drop a photo of a garment here" in driver.find_element(By.ID, "drop").text)
        driver.get(url + "/")  # the choice is remembered
        wait_for(lambda: driver.find_element(By.ID, "model-line").text.startswith("Model "))
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    finally:
        driver.quit()
        server.should_exit = True


def _start_server(tiny_run):
    import socket
    import threading
    import time

    import uvicorn

    from provador.serve import create_app

    run, data_dir = tiny_run
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(run, data_dir=data_dir), host="127.0.0.1", port=port,
                                          log_level="warning"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def test_no_module_that_translates_rebinds_the_underscore():
    """`start, _, stop = …` in a module that imports `_` makes `_("…")` fail in that function."""
    import ast

    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imports_it = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "provador.base.i18n"
            and any(a.name == "_" for a in node.names)
            for node in tree.body
        )
        if imports_it:
            offenders += [f"{path.name}:{node.lineno}" for node in ast.walk(tree)
                          if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)]  # fmt: skip
    assert not offenders, offenders
