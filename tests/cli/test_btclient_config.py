"""btclient's named clients and password sources, against the native daemons.

Each password source is tried with a running btclient whose command line
(``/proc/PID/cmdline``) and output are searched for the password; a wrong
password from a source must fail, so the source is really the one used.
"""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aiobtclientapi.cli import config
from aiobtclientapi.testing import _deluge as deluge
from aiobtclientapi.testing import _qbittorrent as qbittorrent
from aiobtclientapi.testing import _transmission as transmission
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent
from tests.cli.test_btclient import BTCLIENT

#: One native daemon of each client that has passwords.
NATIVE_IDS = [module.target_ids()[0] for module in (transmission, qbittorrent, deluge)]
SOURCES = ["password-file", "environment", "password", "password_env", "password_command"]


@pytest.fixture(scope="module", params=NATIVE_IDS)
def native(request: pytest.FixtureRequest, target_pool: TargetPool) -> Target:
    return target_pool.get(request.param)


@pytest.fixture
def transmission_target(target_pool: TargetPool) -> Target:
    return target_pool.get(transmission.target_ids()[0])


def password_of(target: Target) -> str:
    assert target.daemon is not None
    return target.daemon.password


def url_without_password(target: Target) -> str:
    """The target's URL with its user name but no password."""
    url = target.url.replace(f":{password_of(target)}@", "@")
    assert url != target.url and password_of(target) not in url
    return url


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def named_table(target: Target, name: str = "box", **extra: str) -> str:
    lines = [f"[clients.{name}]", f'client = "{target.client}"', f'url = "{url_without_password(target)}"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def environment(**variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != config.PASSWORD_VARIABLE}
    env["XDG_CONFIG_HOME"] = "/nonexistent"  # never the user's own config file
    return {**env, **variables}


def setup_source(source: str, target: Target, tmp_path: Path, password: str) -> tuple[list[str], dict[str, str]]:
    """btclient's arguments (before the method) and environment that give `password` through `source`."""
    conf = tmp_path / "config.toml"
    if source == "password-file":
        secret = tmp_path / "secret"
        secret.write_text(password + "\n")
        return ["--password-file", str(secret), target.client, url_without_password(target)], environment()
    if source == "environment":
        return [target.client, url_without_password(target)], environment(BTCLIENT_PASSWORD=password)
    if source == "password":
        write_config(conf, named_table(target, password=f'"{password}"'))
        return ["--config", str(conf), "box"], environment()
    if source == "password_env":
        write_config(conf, named_table(target, password_env='"BOX_PASSWORD"'))
        return ["--config", str(conf), "box"], environment(BOX_PASSWORD=password)
    secret = tmp_path / "secret"
    secret.write_text(password + "\n")
    write_config(conf, named_table(target, password_command=f'["cat", "{secret}"]'))
    return ["--config", str(conf), "box"], environment()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BTCLIENT, *args], capture_output=True, text=True, check=False, timeout=60, env=env or environment()
    )


@pytest.mark.parametrize("source", SOURCES)
def test_each_password_source_logs_in_and_stays_off_the_command_line(
    native: Target, tmp_path: Path, source: str
) -> None:
    password = password_of(native)
    arguments, env = setup_source(source, native, tmp_path, password)
    # watch runs until Ctrl-C: time to read the running process's command line.
    process = subprocess.Popen(
        [BTCLIENT, "--debug", *arguments, "watch", "interval=0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first_lines = [process.stdout.readline() for _ in range(4)]
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    output = "".join(first_lines) + rest
    assert process.returncode == 0, output + stderr
    assert first_lines[2].startswith(">>> Connection status changed: ConnectionStatus.connected"), output
    assert "ERROR" not in output
    assert password not in cmdline
    assert password not in output
    assert password not in stderr
    assert "DEBUG" in stderr  # --debug logged the connection, without the password


@pytest.mark.parametrize("source", SOURCES)
def test_a_wrong_password_from_each_source_fails(transmission_target: Target, tmp_path: Path, source: str) -> None:
    arguments, env = setup_source(source, transmission_target, tmp_path, "not-the-password")
    result = run(*arguments, "get_infohashes", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ">>> ERROR: AuthenticationError: " in result.stdout
    assert "not-the-password" not in result.stdout + result.stderr


def test_sources_in_order(transmission_target: Target, tmp_path: Path) -> None:
    """The URL, then --password-file, then BTCLIENT_PASSWORD, then the named client's."""
    target = transmission_target
    right, wrong = password_of(target), "not-the-password"
    (tmp_path / "right").write_text(right)
    (tmp_path / "wrong").write_text(wrong)
    conf = write_config(tmp_path / "config.toml", named_table(target, password=f'"{wrong}"'))
    bare = url_without_password(target)
    cases = [
        ([target.client, target.url], environment(BTCLIENT_PASSWORD=wrong)),
        (["--password-file", str(tmp_path / "right"), target.client, bare], environment(BTCLIENT_PASSWORD=wrong)),
        (["--config", str(conf), "box"], environment(BTCLIENT_PASSWORD=right)),
    ]
    for arguments, env in cases:
        result = run(*arguments, "get_infohashes", env=env)
        assert result.returncode == 0, (arguments, result.stdout, result.stderr)
    result = run("--password-file", str(tmp_path / "wrong"), target.client, bare, "get_infohashes",
                 env=environment(BTCLIENT_PASSWORD=right))  # fmt: skip
    assert result.returncode == 1


async def test_named_client_calls_the_daemon(native: Target, tmp_path: Path) -> None:
    torrent = make_torrent(native.download_dir, tmp_path)
    api = native.make_api()
    async with api:
        assert (await api.add(str(torrent.torrent_path), stopped=True)).success
    conf = write_config(
        tmp_path / "config.toml",
        named_table(native, "seedbox", password=f'"{password_of(native)}"', timeout="20"),
    )
    try:
        result = await asyncio.to_thread(run, "--config", str(conf), "seedbox", "get_infohashes")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f">>> * {torrent.infohash}" in result.stdout.splitlines()
        # The default file, found through XDG_CONFIG_HOME.
        (tmp_path / "btclient").mkdir()
        conf.rename(tmp_path / "btclient" / "config.toml")
        env = {**environment(), "XDG_CONFIG_HOME": str(tmp_path)}
        result = await asyncio.to_thread(run, "seedbox", "stop", torrent.infohash, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"ALREADY_STOPPED: ['{torrent.infohash}']" in result.stdout
    finally:
        async with api:
            await native.raw_remove(api, [torrent.infohash])


def test_password_prompt_in_a_terminal(transmission_target: Target) -> None:
    password = password_of(transmission_target)
    pid, fd = pty.fork()
    if pid == 0:  # the child: btclient on the pseudo-terminal
        os.environ.pop(config.PASSWORD_VARIABLE, None)
        os.execv(BTCLIENT, [BTCLIENT, "transmission", url_without_password(transmission_target), "get_infohashes"])
    seen = b""
    try:
        seen = _read_until(fd, b"Password for tester at ")
        os.write(fd, password.encode() + b"\n")
        seen += _read_until(fd, b"ConnectionStatus.disconnected")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b">>> RESPONSE get_infohashes()" in seen
    assert password.encode() not in seen  # no echo


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    import select

    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"no {marker!r} within {timeout} s: {seen!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert marker in seen, seen
    return seen


def test_no_prompt_without_a_terminal(transmission_target: Target) -> None:
    result = subprocess.run(
        [BTCLIENT, "transmission", url_without_password(transmission_target), "get_infohashes"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Password" not in result.stdout + result.stderr
    assert ">>> ERROR: AuthenticationError: " in result.stdout


class TestConfigFile:
    """What btclient refuses in a config file, without a daemon."""

    @pytest.mark.parametrize(
        ("table", "mode", "refused"),
        [
            ('password = "pw"', 0o644, "holds a password and is readable by others (mode 0644)"),
            ('password = "pw"', 0o640, "holds a password and is readable by others (mode 0640)"),
            ("", 0o644, None),  # no password in it: readable is fine
            ('password_env = "PW"', 0o644, None),
            ('password_command = ["true"]', 0o664, "runs a password_command and is writable by others (mode 0664)"),
            ('password_command = ["true"]', 0o644, None),
        ],
    )
    def test_permissions(self, tmp_path: Path, table: str, mode: int, refused: str | None) -> None:
        conf = write_config(
            tmp_path / "config.toml", f'[clients.box]\nclient = "transmission"\nurl = "localhost"\n{table}\n', mode
        )
        result = run("--config", str(conf), "--list-clients")
        if refused is None:
            assert result.returncode == 0, result.stderr
            assert result.stdout.split() == ["box", "transmission", "localhost"]
        else:
            assert result.returncode == 2
            assert refused in result.stderr
            assert f"chmod 600 {conf}" in result.stderr
            assert "pw" not in result.stderr.replace("password", "")

    def test_a_password_in_the_url_counts_too(self, tmp_path: Path) -> None:
        text = '[clients.box]\nclient = "qbittorrent"\nurl = "http://me:hunter2@localhost"\n'
        conf = write_config(tmp_path / "config.toml", text, 0o604)
        assert "readable by others" in run("--config", str(conf), "--list-clients").stderr
        conf.chmod(0o600)
        result = run("--config", str(conf), "--list-clients")
        assert result.stdout.split() == ["box", "qbittorrent", "http://me:***@localhost"]
        assert "hunter2" not in result.stdout

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[clients.box\n", "is not valid TOML"),
            ('[clients.box]\nclient = "transmission"\n', "[clients.box]: url is missing"),
            ('[clients.box]\nclient = "utorrent"\nurl = "x"\n', "unknown client 'utorrent'"),
            ('[clients.box]\nclient = "deluge"\nurl = "x"\nport = 1\n', "unknown key 'port'"),
            ('[clients.box]\nclient = "deluge"\nurl = "x"\ntimeout = "5"\n', "timeout has the wrong type (str)"),
            ('[clients.box]\nclient = "deluge"\nurl = "x"\ntimeout = 0\n', "timeout must be more than 0 seconds"),
            (
                '[clients.box]\nclient = "deluge"\nurl = "x"\npassword = "a"\npassword_env = "B"\n',
                "give one of password, password_env, password_command, not password and password_env",
            ),
            ('[clients.deluge]\nclient = "deluge"\nurl = "x"\n', "'deluge' is a client's name"),
            ('[clients.box]\nclient = "deluge"\nurl = "x"\npassword_command = []\n', "must be a list of strings"),
            ('[servers.box]\nclient = "deluge"\n', "unknown table or key 'servers'"),
            (
                '[clients.box]\nclient = "deluge"\nurl = "me:hunter2@localhost:notaport"\n',
                "[clients.box]: Invalid deluge URL: invalid port: me:***@localhost:notaport",
            ),
        ],
    )
    def test_mistakes_are_usage_errors(self, tmp_path: Path, text: str, message: str) -> None:
        conf = write_config(tmp_path / "config.toml", text)
        result = run("--config", str(conf), "box", "get_infohashes")
        assert result.returncode == 2
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

    def test_missing_files(self, tmp_path: Path) -> None:
        result = run("--config", str(tmp_path / "none.toml"), "box", "get_infohashes")
        assert (result.returncode, result.stderr.strip()) == (
            2,
            f"btclient: error: config file {tmp_path / 'none.toml'} does not exist",
        )
        result = run("--password-file", str(tmp_path / "none"), "transmission", "me@localhost:1", "get_infohashes")
        assert result.returncode == 2
        assert f"can't read password file {tmp_path / 'none'}: No such file or directory" in result.stderr
        # No default file: no named clients, and the name is reported as unknown.
        result = run("box", "get_infohashes")
        assert result.returncode == 2
        assert result.stdout.startswith(">>> ERROR: Unknown client: 'box'")

    def test_failing_password_sources(self, tmp_path: Path) -> None:
        base = '[clients.box]\nclient = "transmission"\nurl = "me@localhost:1"\n'
        conf = write_config(tmp_path / "config.toml", base + 'password_env = "NOT_SET_ANYWHERE"\n')
        result = run("--config", str(conf), "box", "get_infohashes")
        assert (result.returncode, result.stderr.strip()) == (
            2,
            "btclient: error: [clients.box]: password_env NOT_SET_ANYWHERE is not set",
        )
        script = tmp_path / "fail.sh"
        script.write_text("#!/bin/sh\necho secret-on-stdout\necho 'vault is locked' >&2\nexit 3\n")
        script.chmod(0o700)
        write_config(conf, base + f'password_command = ["{script}"]\n')
        result = run("--config", str(conf), "box", "get_infohashes")
        assert result.returncode == 2
        assert f"password_command '{script}' failed with exit status 3: vault is locked" in result.stderr
        assert "secret-on-stdout" not in result.stdout + result.stderr
        write_config(conf, base + f'password_command = ["{tmp_path / "missing"}"]\n')
        assert "not found" in run("--config", str(conf), "box", "get_infohashes").stderr

    def test_list_clients_shows_no_password(self, tmp_path: Path) -> None:
        conf = write_config(
            tmp_path / "config.toml",
            '[clients.seedbox]\nclient = "qbittorrent"\nurl = "https://box.example:8080"\n'
            'username = "me"\npassword = "hunter2"\n'
            '[clients.home]\nclient = "rtorrent"\nurl = "scgi://localhost:5000"\n',
        )
        result = run("--config", str(conf), "--list-clients")
        assert result.returncode == 0
        assert [line.split() for line in result.stdout.splitlines()] == [
            ["seedbox", "qbittorrent", "https://box.example:8080"],
            ["home", "rtorrent", "scgi://localhost:5000"],
        ]
        assert "hunter2" not in result.stdout

    def test_a_named_clients_proxy(self, tmp_path: Path) -> None:
        from aiobtclientapi.cli.main import _call, _parser

        text = (
            '[clients.box]\nclient = "transmission"\nurl = "localhost"\nproxy = "socks5://me:hunter2@127.0.0.1:1080"\n'
        )
        conf = write_config(tmp_path / "config.toml", text, 0o604)
        # The proxy's password counts like the client's.
        assert "readable by others" in run("--config", str(conf), "--list-clients").stderr
        conf.chmod(0o600)
        result = run("--config", str(conf), "--list-clients")
        assert result.stdout.split() == ["box", "transmission", "localhost", "via", "socks5://me:***@127.0.0.1:1080"]
        assert "hunter2" not in result.stdout
        named = _call(_parser().parse_args(["--config", str(conf), "box", "get_session"]))
        assert named.connection["proxy"] == "socks5://me:hunter2@127.0.0.1:1080"
        given = _call(_parser().parse_args(["--config", str(conf), "--proxy", "http://h:3128", "box", "get_session"]))
        assert given.connection["proxy"] == "http://h:3128"

    def test_an_invalid_proxy_in_the_config_file(self, tmp_path: Path) -> None:
        text = '[clients.box]\nclient = "transmission"\nurl = "localhost"\nproxy = "socks9://me:hunter2@h:1"\n'
        result = run("--config", str(write_config(tmp_path / "config.toml", text)), "--list-clients")
        assert result.returncode == 2
        assert "[clients.box]: Invalid proxy URL: unsupported scheme: socks9" in result.stderr
        assert "hunter2" not in result.stderr

    def test_command_line_options_win_over_the_named_clients(self, tmp_path: Path) -> None:
        from aiobtclientapi.cli.main import _call, _parser

        conf = write_config(
            tmp_path / "config.toml",
            '[clients.box]\nclient = "qbittorrent"\nurl = "localhost"\ntimeout = 20\n'
            'tls_verify = false\ntls_ca_file = "/ca.pem"\n',
        )
        named = _call(_parser().parse_args(["--config", str(conf), "box", "get_session"]))
        assert named.connection == {"timeout": 20.0, "tls_ca_file": "/ca.pem", "tls_verify": False, "proxy": None}
        given = _call(_parser().parse_args(["--config", str(conf), "--timeout", "3", "box", "get_session"]))
        assert given.connection["timeout"] == 3.0
        plain = _call(_parser().parse_args(["qbittorrent", "localhost", "get_session"]))
        assert plain.connection == {"timeout": 10.0, "tls_ca_file": None, "tls_verify": True, "proxy": None}


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["transmission", "localhost", "nosuchmethod"],
        ["transmission"],
        ["get_infohashes"],
        ["--list-clients"],
        ["--completion", "zsh"],
        ["--complete", "btclient transmission localhost add x.torrent st"],
        ["--json", "nosuchclient", "localhost", "get_infohashes"],
    ],
)
def test_help_and_usage_errors_import_no_aiohttp(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "from aiobtclientapi.cli.main import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('EXIT', code, 'aiohttp' in sys.modules, 'structlog' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environment(), check=False, timeout=60
    )
    assert result.stderr.splitlines()[-1].startswith("EXIT "), result.stderr
    _, code, aiohttp, structlog = result.stderr.splitlines()[-1].split()
    assert code in ("0", "2")
    assert (aiohttp, structlog) == ("False", "False")


def test_deluge_calls_import_no_aiohttp(target_pool: TargetPool) -> None:
    target = target_pool.get(deluge.target_ids()[0])
    probe = (
        "import sys\n"
        "from aiobtclientapi.cli.main import main\n"
        f"code = main([{target.client!r}, {target.url!r}, 'get_infohashes'])\n"
        "print('EXIT', code, 'aiohttp' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environment(), check=False, timeout=60
    )
    assert result.stderr.splitlines()[-1] == "EXIT 0 False", result.stdout + result.stderr
