"""The bilingual string table: Chinese first with English beside it, or one language alone.

Every user-facing text of the application is looked up here by key with :func:`tr`,
through Qt's translation system: a :class:`TableTranslator` installed in the Qt
application answers ``QCoreApplication.translate("lims", key)`` from the table, and
Qt's own catalogue (``qtbase_zh_CN.qm``, shipped with Qt) translates the texts Qt draws
itself (standard buttons, context menus, the print preview) while Chinese is shown.
Widgets rebuild their texts in ``retranslate()`` when the language changes.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QTranslator

from ui.strings_tasks import TASK_STRINGS
from ui.strings_views import VIEW_STRINGS

#: The translation context of the application's own texts.
CONTEXT = "lims"


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


class TableTranslator(QTranslator):
    """A Qt translator answering the ``lims`` context from :data:`STRINGS`."""

    def translate(  # type: ignore[override]
        self, context: str, source: str, disambiguation: str | None = None, n: int = -1
    ) -> str | None:
        """The text of key ``source`` in the current language; ``None`` for other contexts."""
        if context != CONTEXT or source not in STRINGS:
            return None
        return translator.text(source)

    def isEmpty(self) -> bool:  # noqa: N802 (Qt override)
        """Never empty: it holds the whole table."""
        return False


class _Installed:
    """The translators installed in the running Qt application."""

    table: TableTranslator | None = None
    qt_chinese: QTranslator | None = None
    app: QCoreApplication | None = None


def _install(lang: Lang) -> None:
    """Install the table translator, and Qt's Chinese catalogue unless English alone."""
    app = QCoreApplication.instance()
    if app is None:
        return
    if _Installed.app is not app:  # a new application (tests create several in turn)
        _Installed.table, _Installed.qt_chinese, _Installed.app = None, None, app
    if _Installed.table is None:
        _Installed.table = TableTranslator(app)
        app.installTranslator(_Installed.table)
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
    if _Installed.table is not None and _Installed.app is QCoreApplication.instance():
        return QCoreApplication.translate(CONTEXT, key)
    return translator.text(key)


#: Where the stored values of the shared vocabulary have their words (first match wins).
VOCABULARY = (
    "role.",
    "status.",
    "run.status.",
    "verdict.",
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
    for prefix in VOCABULARY:
        if prefix + value in STRINGS:
            return tr(prefix + value)
    return None


def set_language(lang: Lang) -> None:
    """Switch the application's language (widgets then call their ``retranslate``)."""
    translator.lang = lang
    _install(lang)
