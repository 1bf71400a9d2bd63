import json
from decimal import Decimal

import defusedxml.ElementTree as SafeET
import pytest

from feedbackportal.leadconduit.wire import (
    FeedbackResult,
    LeadData,
    Outcome,
    UnreadableResult,
    decode_result,
    encode_feedback,
    is_event_id,
)

JSON_SUCCESS = (
    b'{"outcome": "success", "lead": {"id": "5af4b98aa8065fa3a79bf4b4", "first_name": "Joe",'
    b' "last_name": "Blow", "email": "joe@example.com", "phone_1": "5125551212"}}'
)
XML_SUCCESS = (
    b'<?xml version="1.0"?><result><outcome>success</outcome><reason/><lead>'
    b"<id>5af4b98aa8065fa3a79bf4b4</id><first_name>Joe</first_name><last_name>Blow</last_name>"
    b"<email>joe@example.com</email><phone_1>5125551212</phone_1></lead></result>"
)
JOE = LeadData(
    id="5af4b98aa8065fa3a79bf4b4",
    first_name="Joe",
    last_name="Blow",
    email="joe@example.com",
    phone_1="5125551212",
)
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<result><outcome>&lol2;</outcome></result>"
)


# encode_feedback


@pytest.mark.parametrize(
    ("fmt", "body", "content_type"),
    [
        ("json", b'{"type": "return", "reason": "Wrong number"}', "application/json"),
        (
            "xml",
            b'<?xml version="1.0"?><feedback><type>return</type><reason>Wrong number</reason></feedback>',
            "text/xml",
        ),
        ("form", b"type=return&reason=Wrong+number", "application/x-www-form-urlencoded"),
    ],
)
def test_it_encodes_the_documented_body_for_each_format(fmt, body, content_type):
    assert encode_feedback(fmt, "return", "Wrong number") == (body, content_type)


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        ("json", b'{"type": "conversion"}'),
        ("xml", b'<?xml version="1.0"?><feedback><type>conversion</type></feedback>'),
        ("form", b"type=conversion"),
    ],
)
def test_it_leaves_out_an_empty_reason(fmt, body):
    assert encode_feedback(fmt, "conversion", "")[0] == body


def test_it_escapes_markup_characters_in_xml():
    body, _ = encode_feedback("xml", "return", "Fish & <chips> > peas")
    assert body == (
        b'<?xml version="1.0"?><feedback><type>return</type>'
        b"<reason>Fish &amp; &lt;chips&gt; &gt; peas</reason></feedback>"
    )


def test_it_leaves_out_characters_xml_cannot_carry():
    body, _ = encode_feedback("xml", "return", "Wrong\x01 number\x0b\tok")
    assert body.endswith(b"<reason>Wrong number\tok</reason></feedback>")
    assert SafeET.fromstring(body).findtext("reason") == "Wrong number\tok"


def test_it_encodes_unicode_as_utf8_in_json():
    body, _ = encode_feedback("json", "return", "Número équivoqué 電話")
    assert body == '{"type": "return", "reason": "Número équivoqué 電話"}'.encode()
    assert json.loads(body)["reason"] == "Número équivoqué 電話"


def test_it_encodes_unicode_as_utf8_in_xml():
    body, _ = encode_feedback("xml", "return", "Número 電話")
    assert body == '<?xml version="1.0"?><feedback><type>return</type><reason>Número 電話</reason></feedback>'.encode()


def test_it_percent_encodes_unicode_and_separators_in_form():
    body, _ = encode_feedback("form", "return", "Número & más=sí")
    assert body == b"type=return&reason=N%C3%BAmero+%26+m%C3%A1s%3Ds%C3%AD"


def test_it_refuses_an_unknown_feedback_type():
    with pytest.raises(ValueError):
        encode_feedback("json", "refund", "")


def test_it_refuses_an_unknown_request_format():
    with pytest.raises(ValueError):
        encode_feedback("yaml", "return", "")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("5af4b98aa8065fa3a79bf4b3", True),
        ("5AF4B98AA8065FA3A79BF4B3", True),
        ("5af4b98aa8065fa3a79bf4b", False),
        ("5af4b98aa8065fa3a79bf4b3a", False),
        ("5af4b98aa8065fa3a79bf4bz", False),
        ("5af4b98aa8065fa3a79bf4b3\n", False),
        ("", False),
    ],
)
def test_it_recognises_an_event_id(value, valid):
    assert is_event_id(value) is valid


# decode_result


def test_it_decodes_a_json_success_without_a_reason():
    assert decode_result(JSON_SUCCESS, "application/json; charset=utf-8") == FeedbackResult(
        outcome=Outcome.SUCCESS, reason="", lead=JOE, price=None
    )


def test_it_decodes_a_json_reason_of_null():
    body = b'{"outcome": "success", "reason": null, "lead": {"id": "x"}}'
    result = decode_result(body, "application/json")
    assert result.reason == ""
    assert result.accepted


def test_it_decodes_a_json_failure_with_its_reason():
    body = b'{"outcome": "failure", "reason": "Must provide return within 7 days", "lead": {"id": "x"}}'
    result = decode_result(body, "application/json")
    assert result.outcome is Outcome.FAILURE
    assert result.reason == "Must provide return within 7 days"
    assert not result.accepted


def test_it_decodes_an_xml_success_with_an_empty_reason_element():
    assert decode_result(XML_SUCCESS, "text/xml; charset=utf-8") == FeedbackResult(
        outcome=Outcome.SUCCESS, reason="", lead=JOE, price=None
    )


def test_it_decodes_xml_without_a_reason_element():
    body = b"<result><outcome>error</outcome><lead/></result>"
    assert decode_result(body, "application/xml") == FeedbackResult(
        outcome=Outcome.ERROR, reason="", lead=LeadData(), price=None
    )


def test_it_decodes_xml_labelled_as_json():
    # The documentation's XML example is labelled application/json.
    assert decode_result(XML_SUCCESS, "application/json").lead == JOE


@pytest.mark.parametrize("body", [JSON_SUCCESS, XML_SUCCESS])
def test_it_sniffs_a_result_without_a_content_type(body):
    assert decode_result(body, "").lead == JOE


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"outcome": "success", "price": 1.5}', "application/json"),
        (b'{"outcome": "success", "price": "1.50"}', "application/json"),
        (b"<result><outcome>success</outcome><price>1.50</price></result>", "text/xml"),
    ],
)
def test_it_reads_a_price_when_present(body, content_type):
    assert decode_result(body, content_type).price == Decimal("1.5")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"outcome": "success"}', "application/json"),
        (b'{"outcome": "success", "price": null}', "application/json"),
        (b"<result><outcome>success</outcome><price/></result>", "text/xml"),
    ],
)
def test_it_has_no_price_when_absent(body, content_type):
    assert decode_result(body, content_type).price is None


def test_it_refuses_a_price_that_is_not_a_number():
    with pytest.raises(UnreadableResult, match="price"):
        decode_result(b'{"outcome": "success", "price": "cheap"}', "application/json")


def test_it_reads_the_outcome_case_insensitively():
    assert decode_result(b'{"outcome": " Success "}', "application/json").outcome is Outcome.SUCCESS


@pytest.mark.parametrize(
    "body",
    [
        b'{"outcome": "queued"}',
        b'{"reason": "no outcome at all"}',
        b'{"outcome": true}',
        b"<result><outcome>maybe</outcome></result>",
    ],
)
def test_it_refuses_an_unknown_outcome(body):
    with pytest.raises(UnreadableResult):
        decode_result(body, "application/json")


@pytest.mark.parametrize("body", [b"[]", b'"success"', b"null", b"42", b'[{"outcome": "success"}]'])
def test_it_refuses_json_that_is_not_an_object(body):
    with pytest.raises(UnreadableResult, match="not an object"):
        decode_result(body, "application/json")


def test_it_refuses_a_lead_that_is_not_an_object():
    with pytest.raises(UnreadableResult, match="lead"):
        decode_result(b'{"outcome": "success", "lead": "Joe"}', "application/json")


def test_it_refuses_a_reason_that_is_not_text():
    with pytest.raises(UnreadableResult, match="reason"):
        decode_result(b'{"outcome": "failure", "reason": {"why": "no"}}', "application/json")


def test_it_refuses_a_dtd_and_never_expands_entities():
    with pytest.raises(UnreadableResult, match="refused: DTDForbidden"):
        decode_result(BOMB, "text/xml")


def test_it_refuses_an_external_entity():
    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><result>&x;</result>'
    with pytest.raises(UnreadableResult, match="refused"):
        decode_result(body, "text/xml")


def test_it_refuses_xml_whose_root_is_not_result():
    with pytest.raises(UnreadableResult, match="<html>"):
        decode_result(b"<html><body>Bad gateway</body></html>", "text/html")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/json"),
        (b"", "text/xml"),
        (b"", ""),
        (b"\x00\xffnot a result{{", "application/json"),
        (b"{not json", "application/json"),
        (b"<result><outcome>success</outcome>", "text/xml"),
        (b"Bad gateway", "text/plain"),
        (b"Bad gateway", "text/html"),
    ],
)
def test_it_refuses_a_body_that_is_not_a_result(body, content_type):
    with pytest.raises(UnreadableResult):
        decode_result(body, content_type)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # nested deeper than the JSON decoder can recurse
        b'{"outcome": "success", "price": ' + b"9" * 5000 + b"}",  # over Python's int-to-text limit
    ],
)
def test_it_refuses_pathological_json_as_unreadable(body):
    with pytest.raises(UnreadableResult):
        decode_result(body, "application/json")


@pytest.mark.parametrize("encoding", ["no-such-codec", "big5"])
def test_it_refuses_xml_in_an_encoding_it_cannot_read_as_unreadable(encoding):
    body = f'<?xml version="1.0" encoding="{encoding}"?><result><outcome>success</outcome></result>'.encode()
    with pytest.raises(UnreadableResult):
        decode_result(body, "text/xml")
