"""BinanceClient: every Binance failure becomes one typed error; a ban or a spent weight budget
keeps every request inside the process.

HTTP is mocked with `responses` at https://data-api.binance.vision; the clock is a FakeClock.
"""
from __future__ import annotations

import json

import pytest
import requests

from binance_svc.errors import (ApiError, InvalidParameter, UnknownSymbol, UpstreamRateLimited,
                                UpstreamTimeout, UpstreamUnavailable)
from binance_svc.upstream.client import BinanceClient

BASE = "https://data-api.binance.vision"
KLINES = BASE + "/api/v3/klines"
DEPTH = BASE + "/api/v3/depth"
EXCHANGE_INFO = BASE + "/api/v3/exchangeInfo"
ROW = [1685577600000, "27210.36", "27350.00", "27023.35", "27065.77", "2772.82443",
       1685581199999, "75417107.85", 57885, "1305.01", "35498542.09", "0"]

# Anything of the request or of Binance's response that must never reach a client.
LEAKS = ("binance.vision", "/api/v3", "symbol=", "interval=", "http://", "https://", "X-MBX",
         "x-mbx", "Content-Type", "Retry-After", "Traceback", "<html")


def call_klines(client: BinanceClient, **kwargs):
    kwargs = {"symbol": "BTCUSDT", "interval": "1h", "limit": 1, **kwargs}
    return client.call("klines", 2, symbol_param=True, **kwargs)


def assert_no_leak(err: ApiError):
    seen = " ".join([err.message, str(err), json.dumps(err.to_dict())])
    for leak in LEAKS:
        assert leak not in seen, f"{leak!r} leaked into {seen!r}"


def error_of(fn, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    return info.value


# -- error mapping ---------------------------------------------------------------------------

def json_400(code, msg="x"):
    return {"status": 400, "json": {"code": code, "msg": msg}}


MAPPINGS = {
    # Binance says                                                   -> we answer
    "-1121 invalid symbol": (json_400(-1121, "Invalid symbol."), UnknownSymbol, 404),
    "-1100 on the symbol": (json_400(-1100, "Illegal characters found in parameter 'symbol'; "
                                            "legal range is '^[A-Z0-9-_.]{1,20}$'."),
                            UnknownSymbol, 404),
    "-1102 missing parameter": (json_400(-1102, "Mandatory parameter 'symbol' was not sent, "
                                                "was empty/null, or malformed."),
                                InvalidParameter, 400),
    "-1104 unread parameter": (json_400(-1104, "Not all sent parameters were read; read '3' "
                                               "parameter(s) but was sent '4'."),
                               InvalidParameter, 400),
    "-1105 empty parameter": (json_400(-1105, "Parameter 'startTime' was empty."),
                              InvalidParameter, 400),
    "-1120 invalid interval": (json_400(-1120, "Invalid interval."), InvalidParameter, 400),
    "-1130 invalid value": (json_400(-1130, "Invalid data sent for a parameter."),
                            InvalidParameter, 400),
    "429 too many requests": ({"status": 429, "json": {"code": -1003, "msg": "Too much request "
                                                       "weight used."},
                               "headers": {"Retry-After": "30"}}, UpstreamRateLimited, 503),
    "418 IP banned": ({"status": 418, "json": {"code": -1003, "msg": "Way too much request "
                                               "weight used; IP banned."},
                       "headers": {"Retry-After": "120"}}, UpstreamRateLimited, 503),
    "451 restricted location": ({"status": 451, "json": {
        "code": 0, "msg": "Service unavailable from a restricted location according to 'b. "
                          "Eligibility' in https://www.binance.com/en/terms."}},
        UpstreamUnavailable, 503),
    "403 WAF (HTML body)": ({"status": 403, "body": "<html><body>403 Forbidden</body></html>",
                             "content_type": "text/html"}, UpstreamUnavailable, 503),
    "500 internal error": ({"status": 500, "body": "Internal Server Error",
                            "content_type": "text/plain"}, UpstreamUnavailable, 502),
    "502 bad gateway": ({"status": 502, "body": "<html>502 Bad Gateway</html>",
                         "content_type": "text/html"}, UpstreamUnavailable, 502),
    "503 service unavailable": ({"status": 503, "json": {"code": -1001, "msg": "Internal error; "
                                                         "unable to process your request."}},
                                UpstreamUnavailable, 502),
    "404 HTML page": ({"status": 404, "body": "<html>Not Found</html>",
                       "content_type": "text/html"}, UpstreamUnavailable, 502),
    "4xx JSON without code (connector KeyError)": ({"status": 400, "json": {"msg": "odd"}},
                                                   UpstreamUnavailable, 502),
    "400 JSON array body (connector TypeError)": ({"status": 400, "json": [1, 2]},
                                                  UpstreamUnavailable, 502),
    "200 HTML instead of JSON": ({"status": 200, "body": "<html><body>maintenance</body></html>",
                                  "content_type": "text/html"}, UpstreamUnavailable, 502),
    "200 truncated JSON": ({"status": 200, "body": '[[1685577600000,"27210.36",',
                            "content_type": "application/json"}, UpstreamUnavailable, 502),
    "200 empty body": ({"status": 200, "body": "", "content_type": "application/json"},
                       UpstreamUnavailable, 502),
    "connection refused": ({"body": requests.exceptions.ConnectionError("refused to "
                                                                         + KLINES)},
                           UpstreamUnavailable, 503),
    "read timeout": ({"body": requests.exceptions.ReadTimeout("read timed out: " + KLINES)},
                     UpstreamTimeout, 504),
    "connect timeout": ({"body": requests.exceptions.ConnectTimeout("connect timed out")},
                        UpstreamTimeout, 504),
}
CODES = {UnknownSymbol: "unknown_symbol", InvalidParameter: "invalid_parameter",
         UpstreamRateLimited: "upstream_rate_limited", UpstreamUnavailable: "upstream_unavailable",
         UpstreamTimeout: "upstream_timeout"}


@pytest.mark.parametrize("reply, kind, status", list(MAPPINGS.values()), ids=list(MAPPINGS))
def test_each_binance_failure_becomes_one_typed_error(http, client, reply, kind, status):
    http.add("GET", KLINES, **reply)
    err = error_of(call_klines, client)
    assert type(err) is kind
    assert err.status == status
    assert err.to_dict()["error"]["code"] == CODES[kind]
    assert err.to_dict()["error"]["status"] == status
    assert_no_leak(err)
    assert len(http.calls) == 1


def test_unknown_symbol_names_the_symbol_parameter(http, client):
    http.add("GET", KLINES, **json_400(-1121, "Invalid symbol."))
    err = error_of(call_klines, client, symbol="NOPEUSDT")
    assert err.param == "symbol"


def test_minus_1100_on_a_call_without_a_symbol_is_an_invalid_parameter(http, client):
    http.add("GET", EXCHANGE_INFO, **json_400(-1100, "Illegal characters found in parameter "
                                                     "'permissions'."))
    err = error_of(client.call, "exchange_info", 20)
    assert type(err) is InvalidParameter and err.status == 400


def test_minus_1100_naming_another_parameter_is_not_an_unknown_symbol(http, client):
    http.add("GET", KLINES, **json_400(-1100, "Illegal characters found in parameter "
                                              "'startTime'; legal range is '^[0-9]{1,20}$'."))
    err = error_of(call_klines, client)
    assert type(err) is InvalidParameter and err.status == 400


def test_invalid_parameter_passes_on_binance_reason_without_control_characters(http, client):
    http.add("GET", KLINES, **json_400(-1130, "Invalid data sent\nfor a parameter.\x1b[31m"))
    err = error_of(call_klines, client)
    assert "Invalid data sent" in err.message
    assert "\n" not in err.message and "\x1b" not in err.message


def test_rate_limit_errors_carry_retry_after(http, client):
    http.add("GET", KLINES, status=429, json={"code": -1003, "msg": "Too much request weight."},
             headers={"Retry-After": "30"})
    err = error_of(call_klines, client)
    assert err.retry_after == 30


def test_unreachable_binance_suggests_a_retry(http, client):
    http.add("GET", KLINES, body=requests.exceptions.ConnectionError("no route"))
    err = error_of(call_klines, client)
    assert err.retry_after and err.retry_after > 0


def test_the_timeout_is_passed_to_every_request_and_named_in_the_error(http, clock):
    client = BinanceClient(BASE, timeout=2.5, weight_budget=3000, clock=clock)
    assert client.spot.timeout == 2.5
    http.add("GET", KLINES, body=requests.exceptions.ReadTimeout())
    err = error_of(call_klines, client)
    assert "2.5 s" in err.message


def test_last_error_is_recorded_for_the_readiness_check(http, client, clock):
    http.add("GET", KLINES, status=500, body="boom")
    error_of(call_klines, client)
    assert client.state.last_error.startswith("upstream_unavailable")
    assert client.state.last_error_at == clock.now
    assert "/api/v3" not in client.state.last_error


def test_success_returns_the_json_data_and_counts_the_call(http, client, clock):
    http.add("GET", KLINES, json=[ROW], headers={"X-MBX-USED-WEIGHT-1M": "7"})
    assert call_klines(client) == [ROW]
    assert client.state.calls == 1 and client.state.weight_spent == 2
    assert client.state.weight_used == 7
    assert client.state.last_ok_at == clock.now
    sent = http.calls[0].request
    assert sent.params == {"symbol": "BTCUSDT", "interval": "1h", "limit": "1"}


# -- the real recorded error bodies ----------------------------------------------------------

RECORDED = {
    "invalid_symbol_-1121": (400, {}, UnknownSymbol),
    "illegal_chars_in_symbol_-1100": (400, {}, UnknownSymbol),
    "bad_interval_-1120": (400, {}, InvalidParameter),
    "missing_param_-1102_template": (400, {}, InvalidParameter),
    "rate_limited_-1003_template_http_429": (429, {"Retry-After": "17"}, UpstreamRateLimited),
}


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_binance_error_bodies_map_to_the_documented_errors(http, client, load_fixture,
                                                                    name):
    bodies = load_fixture("rest/error_bodies.json")
    if name not in bodies:
        pytest.skip(f"{name} is not in rest/error_bodies.json")
    status, headers, kind = RECORDED[name]
    http.add("GET", KLINES, status=status, json=bodies[name], headers=headers)
    err = error_of(call_klines, client)
    assert type(err) is kind
    assert_no_leak(err)


# -- the ban window ----------------------------------------------------------------------------

@pytest.mark.parametrize("status, seconds", [(429, 30), (418, 120)])
def test_after_429_or_418_no_request_leaves_until_retry_after_has_passed(http, client, clock,
                                                                         status, seconds):
    http.add("GET", KLINES, status=status, json={"code": -1003, "msg": "Too much."},
             headers={"Retry-After": str(seconds)})
    http.add("GET", KLINES, json=[ROW], headers={"X-MBX-USED-WEIGHT-1M": "3"})
    http.add("GET", DEPTH, json={"lastUpdateId": 1, "bids": [], "asks": []})

    t0 = clock.now
    first = error_of(call_klines, client)
    assert type(first) is UpstreamRateLimited and first.retry_after == seconds
    assert client.ban_remaining() == seconds

    for waited in (0, 1, seconds // 2, seconds - 1):
        clock.now = t0 + waited
        for call in (lambda: call_klines(client),
                     lambda: client.call("depth", 5, symbol_param=True, symbol="BTCUSDT")):
            err = error_of(call)
            assert type(err) is UpstreamRateLimited and err.status == 503
            assert 1 <= err.retry_after <= seconds - waited
            assert_no_leak(err)
        assert client.ban_remaining() == seconds - waited
    assert len(http.calls) == 1, "a request left the process during the ban"

    clock.now = t0 + seconds
    assert client.ban_remaining() == 0
    assert call_klines(client) == [ROW]
    assert len(http.calls) == 2


def test_retry_after_is_counted_from_when_binance_said_it(http, client, clock):
    http.add("GET", KLINES, status=429, json={"code": -1003, "msg": "Too much."},
             headers={"Retry-After": "30"})
    error_of(call_klines, client)
    clock.advance(29.5)
    err = error_of(call_klines, client)
    assert err.retry_after == 1
    clock.advance(0.5)
    http.replace("GET", KLINES, json=[ROW])
    assert call_klines(client) == [ROW]


def test_a_429_without_retry_after_still_stops_calls_for_a_minute(http, client, clock):
    http.add("GET", KLINES, status=429, json={"code": -1003, "msg": "Too much."})
    err = error_of(call_klines, client)
    assert err.retry_after == 60
    clock.advance(59)
    assert error_of(call_klines, client).retry_after == 1
    assert len(http.calls) == 1
    clock.advance(1)
    http.replace("GET", KLINES, json=[ROW])
    assert call_klines(client) == [ROW]


# -- the weight budget -------------------------------------------------------------------------

def test_near_the_weight_budget_the_client_refuses_to_call(http, clock):
    client = BinanceClient(BASE, timeout=5, weight_budget=100, clock=clock)
    http.add("GET", KLINES, json=[ROW], headers={"X-MBX-USED-WEIGHT-1M": "99"})
    assert call_klines(client) == [ROW]
    clock.advance(10)

    err = error_of(call_klines, client)
    assert type(err) is UpstreamRateLimited and err.status == 503
    assert 1 <= err.retry_after <= 50          # until the next minute begins
    assert len(http.calls) == 1, "a request left the process above the budget"
    assert_no_leak(err)

    clock.advance(50)                          # the next minute: Binance's counter restarts
    assert call_klines(client) == [ROW]
    assert len(http.calls) == 2


def test_a_call_heavier_than_what_is_left_is_refused_while_a_lighter_one_goes(http, clock):
    client = BinanceClient(BASE, timeout=5, weight_budget=100, clock=clock)
    http.add("GET", KLINES, json=[ROW], headers={"X-MBX-USED-WEIGHT-1M": "80"})
    http.add("GET", DEPTH, json={"lastUpdateId": 1, "bids": [], "asks": []})
    call_klines(client)
    err = error_of(client.call, "depth", 25, symbol_param=True, symbol="BTCUSDT", limit=500)
    assert type(err) is UpstreamRateLimited
    call_klines(client)                        # 80 + 2 <= 100
    assert [c.request.path_url.split("?")[0] for c in http.calls] == ["/api/v3/klines"] * 2


def test_the_client_counts_its_own_calls_when_binance_header_lags(http, clock):
    client = BinanceClient(BASE, timeout=5, weight_budget=4, clock=clock)
    http.add("GET", KLINES, json=[ROW], headers={"X-MBX-USED-WEIGHT-1M": "1"})
    call_klines(client)
    call_klines(client)
    err = error_of(call_klines, client)
    assert type(err) is UpstreamRateLimited
    assert len(http.calls) == 2


def test_a_response_without_the_weight_header_is_still_accepted(http, client):
    http.add("GET", KLINES, json=[ROW])
    assert call_klines(client) == [ROW]
    assert client.state.weight_used == 2       # our own count


def test_a_garbled_weight_header_is_ignored(http, client):
    http.add("GET", KLINES, json=[ROW], headers={"X-MBX-USED-WEIGHT-1M": "lots"})
    assert call_klines(client) == [ROW]
    assert client.state.weight_used == 2
