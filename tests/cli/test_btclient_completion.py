"""btclient's shell completion: the candidates, and the scripts loaded in real bash and zsh."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from aiobtclientapi.cli import completion
from tests.cli.test_btclient import BTCLIENT

CONFIG = """
[clients.seedbox]
client = "qbittorrent"
url = "localhost"
[clients.second]
client = "deluge"
url = "localhost"
"""


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "btclient").mkdir()
    (tmp_path / "btclient" / "config.toml").write_text(CONFIG)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path


class TestCandidates:
    def test_clients_and_named_clients_first(self, config_home: Path) -> None:
        assert completion.candidates("btclient ") == [
            "deluge", "qbittorrent", "rtorrent", "transmission", "seedbox", "second", "transfer",
        ]  # fmt: skip
        assert completion.candidates("btclient se") == ["seedbox", "second"]
        assert completion.candidates("btclient --json t") == ["transmission", "transfer"]

    def test_a_named_client_from_another_config_file(self, tmp_path: Path) -> None:
        other = tmp_path / "other.toml"
        other.write_text('[clients.elsewhere]\nclient = "rtorrent"\nurl = "localhost"\n')
        assert completion.candidates(f"btclient --config {other} el") == ["elsewhere"]
        assert completion.candidates(f"btclient --config={other} el") == ["elsewhere"]

    def test_methods_after_a_url_or_a_named_client(self, config_home: Path) -> None:
        assert completion.candidates("btclient transmission localhost get_") == [
            "get_infohashes", "get_torrents", "get_session", "get_torrent_file",
        ]  # fmt: skip
        assert completion.candidates("btclient seedbox ver") == ["verify", "verify_wait"]
        assert completion.candidates("btclient transmission ") == []  # the URL: the shell's own completion

    def test_keyword_names_of_the_method(self, config_home: Path) -> None:
        assert completion.candidates("btclient seedbox add a.torrent ") == [
            "location=", "stopped=", "verify=", "label=", "content_path=",
        ]  # fmt: skip
        assert completion.candidates("btclient seedbox add a.torrent stopped=1 ") == [
            "location=", "verify=", "label=", "content_path=",
        ]  # fmt: skip
        assert completion.candidates("btclient deluge localhost set_limits x d") == ["down="]
        assert completion.candidates("btclient seedbox add stopped=") == []  # a value
        assert completion.candidates("btclient seedbox call torrent-get ") == []  # any keyword

    def test_options(self) -> None:
        assert completion.candidates("btclient --tl") == ["--tls-ca-file", "--tls-no-verify"]
        assert completion.candidates("btclient --password-file ") == []  # a file
        assert completion.candidates("btclient --timeout 5 q") == ["qbittorrent"]

    def test_a_broken_config_file_completes_the_clients(self, config_home: Path) -> None:
        (config_home / "btclient" / "config.toml").write_text("[clients.box\n")
        assert completion.candidates("btclient ") == ["deluge", "qbittorrent", "rtorrent", "transmission", "transfer"]

    def test_an_open_quote(self) -> None:
        assert completion.candidates("btclient transmission 'local host' ge") == [
            "get_infohashes", "get_torrents", "get_session", "get_torrent_file",
        ]  # fmt: skip
        assert completion.candidates("btclient 'tr") == []


def _run_in(shell: list[str], config_home: Path) -> list[str]:
    """The lines a shell script prints; the shell finds the btclient under test first."""
    path = f"{Path(BTCLIENT).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "XDG_CONFIG_HOME": str(config_home)}
    result = subprocess.run(shell, capture_output=True, text=True, env=env, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_bash_completes_methods_named_clients_and_keywords(config_home: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None, "bash is a Debian package the tests need"
    script = f"""
eval "$({BTCLIENT} --completion bash)"
complete -p btclient
try() {{
    COMP_LINE=$1; COMP_POINT=${{#1}}
    read -r -a COMP_WORDS <<< "$1"; [[ $1 == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
    _btclient_complete
    echo "${{COMPREPLY[*]}}"
}}
try "btclient transmission localhost get_inf"
try "btclient se"
try "btclient seedbox add a.torrent sto"
"""
    assert _run_in([bash, "--norc", "-c", script], config_home) == [
        "complete -o default -F _btclient_complete btclient",
        "get_infohashes",
        "seedbox second",
        "stopped=",
    ]


def test_zsh_completes_methods_named_clients_and_keywords(config_home: Path) -> None:
    zsh = shutil.which("zsh")
    assert zsh is not None, "zsh is installed by scripts/install-daemons.sh"
    # compadd works only inside a completion widget: a function of the same name stands in for it
    # and prints what the completion function adds (with -S '': no space after a KEY=).
    script = f"""
autoload -U compinit && compinit -u -d {config_home}/zcompdump
eval "$({BTCLIENT} --completion zsh)"
print -r -- $_comps[btclient]
compadd() {{ local suffix=' '; [[ $1 == -S ]] && suffix=$2; shift $(( ${{@[(i)--]}} )); print -r -- "$* [$suffix]"; }}
try() {{ BUFFER=$1; CURSOR=${{#1}}; _btclient; }}
try "btclient transmission localhost get_inf"
try "btclient se"
try "btclient seedbox add a.torrent sto"
"""
    assert _run_in([zsh, "-f", "-c", script], config_home) == [
        "_btclient",
        "get_infohashes [ ]",
        "seedbox second [ ]",
        "stopped= []",
    ]
