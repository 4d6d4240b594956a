"""The pure domain: infohashes, URLs, sources, errors, Response."""

from __future__ import annotations

import base64
import builtins
import copy as copy_module
import hashlib
import pickle
import sys
from pathlib import Path

import bencode2
import msgspec
import pytest

import aiobtclientapi
from aiobtclientapi._registry import parse_url
from aiobtclientapi.domain.infohash import normalize_infohash
from aiobtclientapi.domain.response import StopResponse
from aiobtclientapi.domain.source import source_from_infohash, source_from_magnet, source_from_metainfo
from aiobtclientapi.domain.url import mask_password, parse_proxy_url

HASH = "8f6e8660855b91fc3facee3845d3dd9e8def32de"


class TestInfohash:
    def test_hex_is_lowered(self) -> None:
        assert normalize_infohash(HASH.upper()) == HASH

    def test_base32_becomes_hex(self) -> None:
        assert normalize_infohash(base64.b32encode(bytes.fromhex(HASH)).decode()) == HASH

    def test_v2_hex(self) -> None:
        assert normalize_infohash("A" * 64) == "a" * 64

    @pytest.mark.parametrize("value", ["", "xyz", HASH[:-1], HASH + "0", "g" * 40])
    def test_invalid(self, value: str) -> None:
        with pytest.raises(aiobtclientapi.ValueError, match="Invalid infohash"):
            normalize_infohash(value)


class TestURL:
    @pytest.mark.parametrize(
        ("client", "url", "expected"),
        [
            ("deluge", "user:pw@localhost:1234", "deluge://user:***@localhost:1234"),
            ("deluge", "localhost", "deluge://localhost:58846"),
            ("qbittorrent", "localhost", "http://localhost:8080"),
            ("qbittorrent", "https://u:p@example.org:8443", "https://u:***@example.org:8443"),
            ("rtorrent", "localhost:5000", "scgi://localhost:5000"),
            ("rtorrent", "scgi://127.0.0.1:7000", "scgi://127.0.0.1:7000"),
            ("rtorrent", "path/to/rpc.socket", "file://path/to/rpc.socket"),
            ("rtorrent", "file:///run/rt.socket", "file:///run/rt.socket"),
            ("rtorrent", "http://u:p@localhost:8000", "http://u:***@localhost:8000/RPC2"),
            ("rtorrent", "https://localhost/rt/RPC2", "https://localhost:443/rt/RPC2"),
            ("transmission", "a:b@localhost:1234", "http://a:***@localhost:1234/transmission/rpc"),
            ("transmission", "https://h/custom/rpc", "https://h:9091/custom/rpc"),
        ],
    )
    def test_formats(self, client: str, url: str, expected: str) -> None:
        assert str(parse_url(client, url)) == expected

    def test_keyword_credentials_win(self) -> None:
        url = parse_url("transmission", "a:b@localhost", username="c", password="d")
        assert (url.username, url.password) == ("c", "d")

    def test_password_never_shown(self) -> None:
        url = parse_url("qbittorrent", "user:hunter2@localhost")
        assert "hunter2" not in str(url) and "hunter2" not in repr(url)
        api = aiobtclientapi.QbittorrentAPI("user:hunter2@localhost")
        assert "hunter2" not in repr(api)

    @pytest.mark.parametrize(
        ("client", "url", "message"),
        [
            ("transmission", "", "empty"),
            ("transmission", "ftp://localhost", "unsupported scheme"),
            ("transmission", "localhost:99999", "invalid port"),
            ("deluge", "http://localhost", "unsupported scheme"),
            ("qbittorrent", "localhost/path", "no path"),
            ("rtorrent", "scgi://u:p@localhost", "no authentication"),
            ("deluge", "[::1", "invalid host"),
            ("transmission", "http://[::1/rpc", "invalid host"),
            ("nosuchclient", "localhost", "Unknown client"),
        ],
    )
    def test_invalid(self, client: str, url: str, message: str) -> None:
        with pytest.raises(aiobtclientapi.ValueError, match=message) as info:
            parse_url(client, url)
        assert isinstance(info.value, builtins.ValueError)

    def test_invalid_url_message_masks_password(self) -> None:
        with pytest.raises(aiobtclientapi.ValueError) as info:
            parse_url("transmission", "user:hunter2@localhost:99999")
        assert "hunter2" not in str(info.value)


class TestProxyURL:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("socks5://u:hunter2@127.0.0.1:1080", "socks5://u:***@127.0.0.1:1080"),
            ("SOCKS5://proxy.example:1080/", "socks5://proxy.example:1080"),
            ("socks4://me@10.0.0.1:1080", "socks4://me:***@10.0.0.1:1080"),
            ("http://[::1]:3128", "http://[::1]:3128"),
        ],
    )
    def test_formats(self, url: str, expected: str) -> None:
        proxy = parse_proxy_url(url)
        assert str(proxy) == expected
        assert "hunter2" not in repr(proxy)

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("127.0.0.1:1080", "scheme missing"),
            ("https://h:3128", "unsupported scheme: https"),
            ("socks5://h", "port missing"),
            ("socks5://u:hunter2@h:99999", "invalid port"),
            ("socks5://u:hunter2@h:1080/path", "no path allowed"),
            ("socks4://u:hunter2@h:1080", "SOCKS4 has a user ID but no password"),
        ],
    )
    def test_invalid(self, url: str, message: str) -> None:
        with pytest.raises(aiobtclientapi.ValueError, match=message) as info:
            parse_proxy_url(url)
        assert "hunter2" not in str(info.value)

    def test_every_api_takes_one(self) -> None:
        for cls in (aiobtclientapi.DelugeAPI, aiobtclientapi.QbittorrentAPI, aiobtclientapi.TransmissionAPI):
            api = cls("localhost", proxy="socks5://u:hunter2@127.0.0.1:1080")
            assert "hunter2" not in repr(api)
        other = aiobtclientapi.api("rtorrent", "localhost:5000", proxy="http://u:hunter2@127.0.0.1:3128")
        assert "hunter2" not in repr(other)
        with pytest.raises(aiobtclientapi.ValueError, match="Invalid proxy URL"):
            aiobtclientapi.api("transmission", "localhost", proxy="socks5://h")

    def test_without_the_proxy_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "aiohttp_socks", None)  # as if not installed
        with pytest.raises(aiobtclientapi.ValueError, match=r"pip install 'aiobtclientapi\[proxy\]'"):
            aiobtclientapi.api("transmission", "localhost", proxy="socks5://127.0.0.1:1080")
        aiobtclientapi.api("transmission", "localhost")  # without a proxy, nothing is missing


class TestSources:
    def test_metainfo_infohash_is_sha1_of_info(self) -> None:
        info = b"d6:lengthi3e4:name1:a12:piece lengthi16384e6:pieces20:" + b"x" * 20 + b"e"
        data = b"d4:info" + info + b"e"
        source = source_from_metainfo(data, "a.torrent")
        assert source.infohash == hashlib.sha1(info).hexdigest()
        assert source.name == "a"
        assert [f.size for f in source.files] == [3]

    @pytest.mark.parametrize("data", [b"", b"garbage", b"d4:infoi1ee", b"d3:foo3:bare", b"d4:infod4:name1:aee"])
    def test_invalid_metainfo(self, data: bytes) -> None:
        with pytest.raises(aiobtclientapi.InvalidTorrentError, match=r"bad\.torrent"):
            source_from_metainfo(data, "bad.torrent")

    def test_magnet(self) -> None:
        source = source_from_magnet(f"magnet:?xt=urn:btih:{HASH.upper()}&dn=Name")
        assert (source.infohash, source.name) == (HASH, "Name")

    def test_magnet_without_infohash(self) -> None:
        with pytest.raises(aiobtclientapi.InvalidTorrentError):
            source_from_magnet("magnet:?dn=x")

    def test_bare_infohash_becomes_magnet(self) -> None:
        assert source_from_infohash(HASH).magnet == f"magnet:?xt=urn:btih:{HASH}"


class TestErrors:
    def test_builtin_names_subclass_builtins(self) -> None:
        assert issubclass(aiobtclientapi.ValueError, builtins.ValueError)
        assert issubclass(aiobtclientapi.ConnectionError, builtins.ConnectionError)
        assert issubclass(aiobtclientapi.TimeoutError, builtins.TimeoutError)
        assert issubclass(aiobtclientapi.TimeoutError, aiobtclientapi.ConnectionError)
        assert issubclass(aiobtclientapi.AuthenticationError, aiobtclientapi.ConnectionError)
        assert issubclass(aiobtclientapi.NotImplementedError, builtins.NotImplementedError)
        for name in ("NoSuchTorrentError", "InvalidTorrentError", "AddTorrentError", "StartTorrentError",
                     "StopTorrentError", "VerifyTorrentError"):  # fmt: skip
            assert issubclass(getattr(aiobtclientapi, name), aiobtclientapi.ResponseError)
        assert issubclass(aiobtclientapi.TorrentAlreadyAdded, aiobtclientapi.TorrentWarning)
        assert issubclass(aiobtclientapi.TorrentWarning, aiobtclientapi.Warning)

    def test_message_and_equality(self) -> None:
        error = aiobtclientapi.TimeoutError("x: timed out")
        assert str(error) == "x: timed out"
        assert error == aiobtclientapi.TimeoutError("x: timed out")
        assert error != aiobtclientapi.ConnectionError("x: timed out")

    def test_torrent_warning_carries_infohash_and_name(self) -> None:
        warning = aiobtclientapi.TorrentAlreadyStopped(HASH, "Foo")
        assert (warning.infohash, warning.name) == (HASH, "Foo")
        assert "Foo" in str(warning)


class TestResponse:
    def test_fields_and_success(self) -> None:
        response = StopResponse()
        assert response.success
        assert response.fields == ("success", "warnings", "errors", "tasks", "stopped", "already_stopped")
        response.errors.append(aiobtclientapi.NoSuchTorrentError(HASH))
        assert not response.success
        with pytest.raises(AttributeError):
            _ = response.added


class TestErrorCopies:
    @pytest.mark.parametrize(
        "error",
        [
            aiobtclientapi.NoSuchTorrentError(HASH),
            aiobtclientapi.TorrentAlreadyAdded(HASH, "Foo"),
            aiobtclientapi.TimeoutError("x: timed out"),
        ],
        ids=lambda error: type(error).__name__,
    )
    def test_pickled_and_copied_errors_say_the_same(self, error: aiobtclientapi.Error) -> None:
        for copy in (pickle.loads(pickle.dumps(error)), copy_module.deepcopy(error), copy_module.copy(error)):
            assert type(copy) is type(error)
            assert str(copy) == str(error)
            assert copy.__dict__ == error.__dict__

    def test_a_response_with_a_daemon_error_can_be_copied(self) -> None:
        from aiobtclientapi.adapters.deluge._transport import DaemonError

        response = StopResponse()
        response.errors.append(DaemonError("deluge://u:***@h:1", "core.pause_torrents", "KeyError", "gone"))
        copy = copy_module.deepcopy(response)
        assert copy == response
        assert isinstance(copy.errors[0], DaemonError) and copy.errors[0].exc_name == "KeyError"

    def test_with_message_keeps_class_and_attributes(self) -> None:
        error = aiobtclientapi.NoSuchTorrentError(HASH)
        named = error.with_message(f"x.torrent: {error}")
        assert type(named) is aiobtclientapi.NoSuchTorrentError
        assert (str(named), named.infohash) == (f"x.torrent: No such torrent: {HASH}", HASH)


class TestOptions:
    @pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "10", True])
    def test_invalid_timeout(self, timeout: object) -> None:
        with pytest.raises(aiobtclientapi.ValueError, match="Invalid timeout"):
            aiobtclientapi.api("transmission", "localhost", timeout=timeout)  # type: ignore[arg-type]

    def test_tls_ca_file_checked_when_the_api_object_is_made(self, tmp_path: Path) -> None:
        empty = tmp_path / "empty.pem"
        empty.write_text("")
        for path in (tmp_path / "missing.pem", empty):
            with pytest.raises(aiobtclientapi.ValueError, match="Invalid tls_ca_file") as info:
                aiobtclientapi.api("qbittorrent", "https://localhost", tls_ca_file=str(path))
            assert str(path) in str(info.value)


class TestMasking:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("http://user:CANARY@host/x.torrent", "http://user:***@host/x.torrent"),
            ("http://user:CAN/ARY@host:80/x", "http://user:***@host:80/x"),
            ("user:CAN@ARY@host", "user:***@host"),
            ("https://host/path@x.torrent", "https://host/path@x.torrent"),
            ("user@host", "user@host"),
            ("localhost:9091", "localhost:9091"),
        ],
    )
    def test_mask_password(self, text: str, masked: str) -> None:
        assert mask_password(text) == masked

    @pytest.mark.parametrize("url", ["user:CANARY/pw@host", "user:CAN@ARY:x@host:99999", "http://u:CANARY?x@h"])
    def test_invalid_url_errors_never_show_the_password(self, url: str) -> None:
        for client in ("deluge", "transmission"):
            with pytest.raises(aiobtclientapi.ValueError) as info:
                parse_url(client, url)
            assert "CANARY" not in str(info.value)


class TestClientURLKeepsItsPassword:
    URL = "user:CANARY@localhost"

    def test_not_in_any_representation(self) -> None:
        import pprint

        url = parse_url("transmission", self.URL)
        assert url.password == "CANARY"
        for text in (str(url), repr(url), pprint.pformat(url), f"{url}", f"{url!r}"):
            assert "CANARY" not in text, text

    def test_encoders_refuse_it(self) -> None:
        import json

        import msgspec

        url = parse_url("transmission", self.URL)
        for encode in (msgspec.json.encode, msgspec.to_builtins, json.dumps, pickle.dumps):
            with pytest.raises(TypeError):
                encode(url)
        assert copy_module.deepcopy(url) == url

    def test_immutable(self) -> None:
        url = parse_url("transmission", self.URL)
        with pytest.raises(AttributeError):
            url.password = "x"


class TestTorrentFileName:
    @pytest.mark.parametrize(
        ("name", "file_name"),
        [
            ("Some Album", "Some Album.torrent"),
            ("../../../../home/x/.config/autostart/x", "x.torrent"),
            ("..\\\\..\\\\windows\\\\evil", "evil.torrent"),
            ("..", f"{HASH}.torrent"),
            (".hidden", "hidden.torrent"),
            ("a\\nb/", f"{HASH}.torrent"),
        ],
    )
    def test_a_plain_file_name_whatever_the_name(self, name: str, file_name: str) -> None:
        source = source_from_infohash(HASH)
        assert msgspec.structs.replace(source, name=name).file_name == file_name


class TestMalformedSources:
    @pytest.mark.parametrize(
        "files",
        [
            [{b"length": 1, b"path": 5}],
            [{b"length": 1, b"path": [5]}],
            [{b"length": 1, b"path": []}],
            [{b"length": 1}],
            [{b"length": b"1", b"path": [b"a"]}],
            [5],
        ],
    )
    def test_bad_file_lists_are_invalid_torrents(self, files: list[object]) -> None:
        info = {b"name": b"x", b"piece length": 16384, b"pieces": b"\x01" * 20, b"files": files}
        with pytest.raises(aiobtclientapi.InvalidTorrentError, match=r"bad\.torrent: bad file list"):
            source_from_metainfo(bencode2.bencode({b"info": info}), "bad.torrent")

    @pytest.mark.parametrize("xt", ["urn:btmh:1220zzzz", "urn:btih:zzzz"])
    def test_bad_magnet_infohashes_name_the_magnet(self, xt: str) -> None:
        uri = f"magnet:?xt={xt}&dn=x"
        with pytest.raises(aiobtclientapi.InvalidTorrentError) as info:
            source_from_magnet(uri)
        assert uri in str(info.value)
