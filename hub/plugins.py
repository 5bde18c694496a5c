"""The plugin manager: entry points of group ``hub.plugins``, filtered by ``plugins.enabled``.

Set ``HUB_TRACE_PLUGINS=1`` to log every hook call with its arguments and results.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from hub import hookspecs
from hub.errors import PluginError, SettingsError
from hub.hookspecs import Scope
from hub.settings import HubSettings, describe_errors, refuse_secrets_in_file

ENTRY_POINT_GROUP = "hub.plugins"
log = logging.getLogger("hub.plugins")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    module: str
    version: str
    hooks: tuple[str, ...]
    enabled: bool


class Plugins:
    """The enabled plugins, their validated settings, and how to call one of them."""

    def __init__(self, settings: HubSettings):
        self.pm = pluggy.PluginManager("hub")
        self.pm.add_hookspecs(hookspecs)
        self.available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        unknown = [name for name in settings.plugins.enabled if name not in self.available]
        if unknown:
            raise PluginError(
                f"unknown plugin(s) in plugins.enabled: {', '.join(unknown)}; "
                f"available: {', '.join(sorted(self.available)) or 'none'}"
            )
        self.settings: dict[str, Any] = {}
        self._callers: dict[tuple[str, str], Any] = {}
        for name in settings.plugins.enabled:
            module = self._load(name)
            self.settings[name] = _plugin_settings(name, module, settings)
            self.pm.register(module, name=name)
        for name in set(self.available) - set(settings.plugins.enabled):  # a secret in the file is refused anyway
            if settings.file_data.get("plugins", {}).get(name):
                model = getattr(self._load(name), "Settings", None)
                if model is not None:
                    refuse_secrets_in_file(model, settings.file_data, ("plugins", name), settings.config_file)
        if os.environ.get("HUB_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(log.info)
            self.pm.enable_tracing()

    @property
    def hook(self):
        return self.pm.hook

    def _load(self, name: str) -> ModuleType:
        try:
            return self.available[name].load()
        except Exception as exc:  # a broken plugin must name itself
            raise PluginError(f"plugin {name} cannot be loaded: {exc}") from exc

    def implementers(self, hook_name: str) -> list[str]:
        """Enabled plugin names implementing a hook, in registration order."""
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        return [impl.plugin_name for impl in impls][::-1]

    @property
    def sources(self) -> list[str]:
        return self.implementers("hub_read_directory")

    @property
    def targets(self) -> list[str]:
        return self.implementers("hub_deliver")

    def scopes(self) -> dict[str, Scope]:
        """Each target's scope (`hookspecs.hub_target_scope`; everything, one at a time, when it has none)."""
        return {name: self.call(name, "hub_target_scope") if name in self.implementers("hub_target_scope")
                else Scope() for name in self.targets}

    def register_all(self, hook_name: str, **kwargs: Any) -> list:
        """Call a registration hook on every enabled plugin; their answers, first registered first."""
        return getattr(self.pm.hook, hook_name)(**kwargs)[::-1]

    def call(self, name: str, hook_name: str, **kwargs: Any) -> Any:
        """Call one plugin's hook with its own settings; return its single result."""
        caller = self._callers.get((name, hook_name))
        if caller is None:
            if name not in self.implementers(hook_name):
                raise PluginError(f"plugin {name} is not enabled or does not implement {hook_name}")
            others = [p for n, p in self.pm.list_name_plugin() if n != name]
            caller = self._callers[name, hook_name] = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
        results = caller(settings=self.settings[name], **kwargs)
        return results[0] if results else None

    def describe(self, enabled_names: list[str]) -> list[PluginInfo]:
        """Every available plugin, enabled or not, with the hooks it implements."""
        infos = []
        for name, ep in sorted(self.available.items()):
            module = self.pm.get_plugin(name) or self._load(name)
            hooks = tuple(sorted(h for h in dir(module) if h.startswith("hub_") and callable(getattr(module, h))))
            version = ep.dist.version if ep.dist else ""
            infos.append(PluginInfo(name, ep.value, version, hooks, name in enabled_names))
        return infos


def _plugin_settings(name: str, module: ModuleType, settings: HubSettings) -> Any:
    model: type[BaseModel] | None = getattr(module, "Settings", None)
    section = settings.plugins.section(name)
    if model is None:
        if section:
            raise SettingsError(f"setting plugins.{name}: plugin {name} takes no settings")
        return None
    refuse_secrets_in_file(model, settings.file_data, ("plugins", name), settings.config_file)
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, settings.file_data, settings.config_file,
                                            prefix=("plugins", name))) from None
