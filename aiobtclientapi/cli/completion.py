"""Shell completion for btclient: the bash and zsh scripts, and what they complete.

``btclient --completion bash`` (or ``zsh``) prints a script that asks
``btclient --complete LINE`` for the candidates at the cursor, LINE being the
command line up to it. btclient completes client names and named clients,
methods, ``KEY=`` for the method's keyword arguments and option names, and
after ``transfer`` the two clients and transfer's options; where it has
nothing to offer (a URL, a value, a file, an infohash), the shell completes
file names.
"""

from __future__ import annotations

import shlex

from . import config

_BASH = r"""# bash completion for btclient: eval "$(btclient --completion bash)"
_btclient_complete() {
    local IFS=$'\n'
    COMPREPLY=($(command btclient --complete "${COMP_LINE:0:COMP_POINT}" 2>/dev/null))
    # KEY= is completed without a space after it, ready for the value.
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
        compopt -o nospace 2>/dev/null
    fi
}
complete -o default -F _btclient_complete btclient
"""

_ZSH = r"""#compdef btclient
# zsh completion for btclient: eval "$(btclient --completion zsh)" after compinit
_btclient() {
    local -a candidates keys others
    candidates=("${(@f)$(command btclient --complete "${BUFFER[1,CURSOR]}" 2>/dev/null)}")
    candidates=(${candidates:#})
    if (( ${#candidates} == 0 )); then
        _files
        return
    fi
    # KEY= is completed without a space after it, ready for the value.
    keys=(${(M)candidates:#*=})
    others=(${candidates:#*=})
    (( ${#keys} )) && compadd -S '' -- $keys
    (( ${#others} )) && compadd -- $others
    return 0
}
compdef _btclient btclient
"""

_SCRIPTS = {"bash": _BASH, "zsh": _ZSH}

#: Options followed by a value (a file, a number, a shell): nothing to complete after them but files.
_TAKES_VALUE = frozenset(
    {"--timeout", "--tls-ca-file", "--proxy", "--output", "--config", "--password-file", "--completion", "--complete"}
)
_OPTIONS = (
    "--help",
    "--debug",
    "--json",
    "--timeout",
    "--tls-ca-file",
    "--tls-no-verify",
    "--proxy",
    "--output",
    "--config",
    "--password-file",
    "--list-clients",
    "--completion",
)
#: ``btclient transfer``'s options; --path-map takes a value.
_TRANSFER_OPTIONS = ("--help", "--all", "--remove-source", "--no-verify", "--path-map")


def script(shell: str) -> str:
    """The completion script for `shell` (bash or zsh)."""
    return _SCRIPTS[shell]


def _words(line: str) -> tuple[list[str], str]:
    """The finished words of `line` and the one being typed ("" after a space)."""
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: the word being typed starts with it
        words = line.split()
    if not line or line[-1].isspace():
        return words, ""
    return words[:-1], words[-1] if words else ""


def candidates(line: str) -> list[str]:
    """What may come at the end of `line`, a btclient command line up to the cursor."""
    from .._registry import CLIENTS
    from .main import METHODS, TRANSFER

    words, current = _words(line)
    words = words[1:]  # the command's own name
    if words and words[-1] in _TAKES_VALUE:
        return []
    positional: list[str] = []
    config_path: str | None = None
    for index, word in enumerate(words):
        if positional:
            positional.append(word)
        elif word == "--config" and index + 1 < len(words):
            config_path = words[index + 1]
        elif word.startswith("--config="):
            config_path = word.partition("=")[2]
        elif not word.startswith("-") and (index == 0 or words[index - 1] not in _TAKES_VALUE):
            positional.append(word)
    if positional and positional[0] == TRANSFER:
        return _transfer_candidates(positional[1:], current, config_path)
    if current.startswith("-"):
        return [option for option in _OPTIONS if option.startswith(current)]
    if not positional:
        names = [*CLIENTS, *_named_clients(config_path), TRANSFER]
        return [name for name in names if name.startswith(current)]
    method_at = 2 if positional[0] in CLIENTS else 1
    if len(positional) < method_at:
        return []  # the URL
    if len(positional) == method_at:
        return [method for method in METHODS if method.startswith(current)]
    method = positional[method_at]
    if "=" in current or method not in METHODS or method == "call":
        return []
    from .main import keyword_types

    given = {word.partition("=")[0] for word in positional[method_at + 1 :] if "=" in word}
    return [f"{name}=" for name in keyword_types(method) if name not in given and name.startswith(current)]


def _transfer_candidates(words: list[str], current: str, config_path: str | None) -> list[str]:
    """After ``transfer``: its options, else the SOURCE's then the TARGET's client or named client."""
    from .._registry import CLIENTS

    if words and words[-1] == "--path-map":
        return []  # OLD=NEW
    if current.startswith("-"):
        return [option for option in _TRANSFER_OPTIONS if option.startswith(current)]
    plain: list[str] = []
    after_path_map = False
    for word in words:
        if not after_path_map and not word.startswith("-"):
            plain.append(word)
        after_path_map = word == "--path-map"
    at = 0
    for _side in ("SOURCE", "TARGET"):
        if at == len(plain):
            names = [*CLIENTS, *_named_clients(config_path)]
            return [name for name in names if name.startswith(current)]
        at += 2 if plain[at] in CLIENTS else 1
        if at > len(plain):
            return []  # the URL
    return []  # infohashes


def _named_clients(path: str | None) -> list[str]:
    try:
        return list(config.load(path))
    except config.ConfigError:
        return []  # a broken config file: its error shows when it is used, not at a Tab press
