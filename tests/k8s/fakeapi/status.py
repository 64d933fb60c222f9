# SPDX-License-Identifier: LGPL-2.1-or-later
"""Status errors and name validation with the Kubernetes API server's wording.

Message formats follow staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go
(NewNotFound, NewAlreadyExists, NewForbidden, NewConflict, NewInvalid,
NewBadRequest, NewUnauthorized) and the name rules follow
staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go
(IsDNS1123Label, IsDNS1123Subdomain, IsDNS1035Label, RegexError).
"""

import json
import re


class ApiError(Exception):
    """A metav1.Status failure; status() is the JSON body the server writes."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        # Field order and omission rules of metav1.Status as the apiserver
        # serialises it: details is omitted when nil, present (even empty)
        # when set.
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def body(self):
        return json.dumps(self.status()).encode()


def qualified(resource, group):
    # schema.GroupResource.String(): "pods", "deployments.apps".
    return resource if not group else "%s.%s" % (resource, group)


def _details(name, group, kind):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    return d


def not_found(resource, group, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(resource, group), name),
                    _details(name, group, resource))


def not_found_generic():
    # What the apiserver answers for a path no installed resource serves,
    # e.g. pods/ephemeralcontainers on a cluster without the subresource:
    # reason NotFound with an empty details object (kubectl debug tells the two
    # 404s apart by details.name, staging/src/k8s.io/kubectl/pkg/cmd/debug/debug.go).
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource, group, name):
    return ApiError(409, "AlreadyExists",
                    '%s "%s" already exists' % (qualified(resource, group), name),
                    _details(name, group, resource))


def conflict(resource, group, name, why):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (qualified(resource, group), name, why), _details(name, group, resource))


def forbidden(resource, group, name, why, causes=None):
    q = qualified(resource, group)
    if name:
        msg = '%s "%s" is forbidden: %s' % (q, name, why)
    else:
        msg = "%s is forbidden: %s" % (q, why)
    d = _details(name, group, resource)
    if causes:
        d["causes"] = causes
    return ApiError(403, "Forbidden", msg, d)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def unauthorized():
    # NewUnauthorized("") -> message "Unauthorized", no details; what the
    # authentication filter writes (staging/src/k8s.io/apiserver/pkg/endpoints/
    # handlers/responsewriters/errors.go, filters/authentication.go).
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource", {})


def unsupported_media_type(accepted):
    # staging/src/k8s.io/apiserver/pkg/endpoints/handlers/negotiation/errors.go
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(accepted))


class FieldError:
    """field.Error of k8s.io/apimachinery/pkg/util/validation/field/errors.go."""

    def __init__(self, etype, field, value=None, detail=""):
        self.etype = etype
        self.field = field
        self.value = value
        self.detail = detail

    _TYPES = {"FieldValueInvalid": "Invalid value", "FieldValueRequired": "Required value",
              "FieldValueDuplicate": "Duplicate value", "FieldValueForbidden": "Forbidden",
              "FieldValueNotFound": "Not found", "FieldValueNotSupported": "Unsupported value",
              "FieldValueTooLong": "Too long"}

    def body(self):
        # ErrorBody(): the type string, the value for the types that print it,
        # then ": detail".
        s = self._TYPES[self.etype]
        if self.etype in ("FieldValueInvalid", "FieldValueDuplicate", "FieldValueNotFound",
                          "FieldValueNotSupported"):
            v = self.value
            s += ": " + (json.dumps(v) if isinstance(v, str) else json.dumps(v))
        if self.detail:
            s += ": " + self.detail
        return s

    def error(self):
        return "%s: %s" % (self.field, self.body())


def invalid(kind, group, name, errors):
    # NewInvalid: '<Kind[.group]> "<name>" is invalid: <aggregate>'; an
    # aggregate of one error prints it bare, of several "[a, b]"
    # (k8s.io/apimachinery/pkg/util/errors/errors.go aggregate.Error).
    texts = [e.error() for e in errors]
    agg = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qk = kind if not group else "%s.%s" % (kind, group)
    d = {"name": name}
    if group:
        d["group"] = group
    d["kind"] = kind
    d["causes"] = [{"reason": e.etype, "message": e.body(), "field": e.field} for e in errors]
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qk, name, agg), d)


def _regex_error(msg, fmt, *examples):
    # RegexError, including its double space before " or ".
    if not examples:
        return msg + " (regex used for validation is '" + fmt + "')"
    msg += " (e.g. "
    for i, ex in enumerate(examples):
        if i > 0:
            msg += " or "
        msg += "'" + ex + "', "
    return msg + "regex used for validation is '" + fmt + "')"


DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"


def dns1123_label(value):
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(DNS1123_LABEL_FMT, value):
        errs.append(_regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                                 "characters or '-', and must start and end with an alphanumeric "
                                 "character", DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value):
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(DNS1123_SUBDOMAIN_FMT, value):
        errs.append(_regex_error("a lowercase RFC 1123 subdomain must consist of lower case "
                                 "alphanumeric characters, '-' or '.', and must start and end with "
                                 "an alphanumeric character", DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value):
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(DNS1035_LABEL_FMT, value):
        errs.append(_regex_error("a DNS-1035 label must consist of lower case alphanumeric "
                                 "characters or '-', start with an alphabetic character, and end "
                                 "with an alphanumeric character", DNS1035_LABEL_FMT,
                                 "my-name", "abc-123"))
    return errs


_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"


def label_errors(labels, path="metadata.labels"):
    """ValidateLabels (apimachinery/pkg/apis/meta/v1/validation): keys are
    qualified names, values at most 63 characters of the label value form."""
    errs = []
    for k, v in (labels or {}).items():
        if not isinstance(v, str):
            errs.append(FieldError("FieldValueInvalid", path, v, "must be a string"))
            continue
        prefix, _, short = k.rpartition("/")
        bad_key = (not short or len(short) > 63 or not re.fullmatch(_QNAME_FMT, short)
                   or (prefix and (len(prefix) > 253 or not re.fullmatch(DNS1123_SUBDOMAIN_FMT, prefix))))
        if bad_key:
            errs.append(FieldError("FieldValueInvalid", path, k, _regex_error(
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
                "and end with an alphanumeric character", _QNAME_FMT, "MyName", "my.name", "123-abc")))
        if len(v) > 63:
            errs.append(FieldError("FieldValueInvalid", path, v, "must be no more than 63 characters"))
        elif not re.fullmatch(_LABEL_VALUE_FMT, v):
            errs.append(FieldError("FieldValueInvalid", path, v, _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', "
                "'_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")))
    return errs
