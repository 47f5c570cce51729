"""The bilingual string table: Chinese first with English beside it, or one language alone.

Every user-facing text of the application is looked up here by key with :func:`tr`;
Qt's own catalogue (``qtbase_zh_CN.qm``, shipped with Qt) translates the texts Qt draws
itself (standard buttons, context menus, the print preview) while Chinese is shown.
Widgets rebuild their texts in ``retranslate()`` when the language changes.

The table is deliberately not a ``QTranslator`` subclass installed in Qt: PySide6 passes
a null disambiguation to a Python ``translate`` override as ``None`` without taking a
reference, so every call Qt makes (for its own texts too) takes one reference from
``None`` until the interpreter aborts ("deallocating None"); a long session crashed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QTranslator

from lims.messages import MESSAGES
from ui.strings_tasks import TASK_STRINGS
from ui.strings_views import VIEW_STRINGS


class Lang(StrEnum):
    """How texts are shown."""

    BILINGUAL = "bi"  # 中文 English (the default)
    ZH = "zh"
    EN = "en"


#: key -> (Chinese, English): every text of the application.
STRINGS: dict[str, tuple[str, str]] = {**VIEW_STRINGS, **TASK_STRINGS}
assert len(STRINGS) == len(VIEW_STRINGS) + len(TASK_STRINGS), "a text key is defined twice"


class Translator:
    """The current language and the lookup of texts."""

    def __init__(self, lang: Lang = Lang.BILINGUAL) -> None:
        self.lang = lang

    def text(self, key: str) -> str:
        """The text of ``key`` in the current language (KeyError for an unknown key)."""
        zh, en = STRINGS[key]
        if self.lang is Lang.ZH:
            return zh
        if self.lang is Lang.EN:
            return en
        return f"{zh} {en}"


translator = Translator()


class _Installed:
    """The translators installed in the running Qt application."""

    qt_chinese: QTranslator | None = None
    app: QCoreApplication | None = None


def _install(lang: Lang) -> None:
    """Install Qt's Chinese catalogue unless English alone is shown."""
    app = QCoreApplication.instance()
    if app is None:
        return
    if _Installed.app is not app:  # a new application (tests create several in turn)
        _Installed.qt_chinese, _Installed.app = None, app
    if lang is Lang.EN:
        if _Installed.qt_chinese is not None:
            app.removeTranslator(_Installed.qt_chinese)
            _Installed.qt_chinese = None
        return
    if _Installed.qt_chinese is None:
        catalogue = QTranslator(app)
        path = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
        if catalogue.load("qtbase_zh_CN", path):
            app.installTranslator(catalogue)
            _Installed.qt_chinese = catalogue


def tr(key: str) -> str:
    """The text of ``key`` in the application's current language (KeyError if unknown)."""
    if key not in STRINGS:
        raise KeyError(key)
    return translator.text(key)


#: Where the stored values of the shared vocabulary have their words (first match wins).
VOCABULARY = (
    "role.",
    "status.",
    "run.status.",
    "cert.status.",
    "cert.type.",
    "service.",
    "kind.",
    "meaning.",
    "reg.status.",
    "impact.disposition.",
)


def vocabulary_text(value: str) -> str | None:
    """A stored vocabulary value (a role, a status, a verdict …) in words; None if unknown."""
    from lims.vocabulary import Verdict

    if value in {v.value for v in Verdict}:
        return pair(Verdict(value).zh, Verdict(value).en)
    for prefix in VOCABULARY:
        if prefix + value in STRINGS:
            return tr(prefix + value)
    return None


def pair(zh: str, en: str) -> str:
    """A text given in both languages (the shared vocabulary's labels), in the current one."""
    if translator.lang is Lang.ZH:
        return zh
    if translator.lang is Lang.EN:
        return en
    return f"{zh} {en}"


def name_text(prefix: str, name: str) -> str:
    """A procedure's name for a quantity or a result (``indication.sample``) in words: from
    the table when it has one (``prefix.name``), else spelt out, never as the key."""
    key = f"{prefix}.{name}"
    if key in STRINGS:
        return tr(key)
    return name.replace(".", " · ").replace("_", " ")


def engine_text(key: str, text: str, params: Mapping[str, str]) -> str:
    """A message of the run engine (:mod:`lims.messages`, the catalogue the engine and the
    services share) in the current language; a text a procedure composed as it is."""
    if not key or key not in MESSAGES:
        return text
    zh, en = MESSAGES[key]
    return pair(zh.format(**params), en.format(**params))


def set_language(lang: Lang) -> None:
    """Switch the application's language (widgets then call their ``retranslate``)."""
    translator.lang = lang
    _install(lang)
