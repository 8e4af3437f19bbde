#include "service/server/adapters.h"

#include <array>
#include <iterator>

#include "service/common/strings.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace popguard {

namespace auth = envoy::service::auth::v3;
namespace core = envoy::config::core::v3;

HttpRequestInfo FromVerifyRequest(const popguard::v1::VerifyRequest& req) {
  HttpRequestInfo info;
  info.api = "verify";
  info.method = req.method();
  info.url = req.url();
  info.correlation_id = req.correlation_id();
  info.route_key = req.route_key();
  info.metadata_answer = true;  // the gateway sends the DENY's body and status as they are
  info.headers.reserve(req.headers_size());
  for (const auto& h : req.headers()) {
    info.headers.emplace_back(absl::AsciiStrToLower(h.name()), h.value());
  }
  switch (req.client_certificate_case()) {
    case popguard::v1::VerifyRequest::kCertificate:
      info.cert_kind = HttpRequestInfo::CertKind::kPemOrDer;
      info.cert = req.certificate();
      break;
    case popguard::v1::VerifyRequest::kCertificateThumbprint:
      info.cert_kind = HttpRequestInfo::CertKind::kThumbprint;
      info.cert = req.certificate_thumbprint();
      break;
    default:
      break;
  }
  return info;
}

popguard::v1::Reason ProtoReasonFor(Reason reason) {
  // One table indexed by Reason, built once (not per response) from the
  // naming rule REASON_ + upper-cased code; Reason is dense from 0 in
  // kAllReasons order, and reason_test pins every entry.
  using Table = std::array<popguard::v1::Reason, std::size(kAllReasons)>;
  static const Table* const kTable = [] {
    auto* table = new Table();
    for (Reason r : kAllReasons) {
      popguard::v1::Reason proto = popguard::v1::REASON_UNSPECIFIED;
      popguard::v1::Reason_Parse("REASON_" + ToUpper(ReasonCode(r)), &proto);
      (*table)[static_cast<size_t>(r)] = proto;
    }
    return table;
  }();
  const auto index = static_cast<size_t>(reason);
  return index < kTable->size() ? (*kTable)[index] : popguard::v1::REASON_UNSPECIFIED;
}

namespace {
popguard::v1::Binding ProtoBinding(ProvenBinding b) {
  switch (b) {
    case ProvenBinding::kNone:
      return popguard::v1::BINDING_NONE;
    case ProvenBinding::kDpop:
      return popguard::v1::BINDING_DPOP;
    case ProvenBinding::kMtls:
      return popguard::v1::BINDING_MTLS;
  }
  return popguard::v1::BINDING_UNSPECIFIED;
}

void AddHeader(google::protobuf::RepeatedPtrField<core::HeaderValueOption>* out,
               const std::string& name, const std::string& value, bool append) {
  core::HeaderValueOption* opt = out->Add();
  opt->mutable_header()->set_key(name);
  opt->mutable_header()->set_value(value);
  opt->mutable_append()->set_value(append);
  opt->set_append_action(append ? core::HeaderValueOption::APPEND_IF_EXISTS_OR_ADD
                                : core::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
}
}  // namespace

void ToVerifyResponse(const Decision& d, const std::string& correlation_id,
                      popguard::v1::VerifyResponse* resp) {
  resp->set_correlation_id(correlation_id);
  resp->set_decision(d.allow ? popguard::v1::ALLOW : popguard::v1::DENY);
  resp->set_reason(ProtoReasonFor(d.reason));
  resp->set_reason_code(std::string(ReasonCode(d.reason)));
  resp->set_message(d.message);
  resp->set_http_status(d.allow ? 200 : d.http_status);
  for (const auto& [k, v] : d.response_headers) {
    auto* h = resp->add_response_headers();
    h->set_name(k);
    h->set_value(v);
  }
  for (const auto& [k, v] : d.upstream_headers) {
    auto* h = resp->add_upstream_headers();
    h->set_name(k);
    h->set_value(v);
  }
  for (const auto& k : d.upstream_headers_to_remove) resp->add_upstream_headers_to_remove(k);
  resp->set_principal(d.principal);
  resp->set_binding(ProtoBinding(d.binding));
  resp->set_report_only(d.report_only);
  resp->set_route(d.route);
  resp->set_issuer(d.issuer);
  resp->set_diagnostics_report(d.diagnostics_report);
  resp->set_response_body(d.response_body);
}

HttpRequestInfo FromCheckRequest(const auth::CheckRequest& req) {
  HttpRequestInfo info;
  const auto& attrs = req.attributes();
  const auto& http = attrs.request().http();
  info.api = "check";
  info.method = http.method();
  info.scheme = http.scheme();
  info.authority = http.host();
  info.path = http.path();
  info.correlation_id = http.id();
  info.metadata_answer = true;  // a denied_response Envoy sends as it is
  if (http.has_header_map() && http.header_map().headers_size() > 0) {
    // Raw headers (encode_raw_headers): not merged, values in raw_value.
    for (const auto& h : http.header_map().headers()) {
      info.headers.emplace_back(absl::AsciiStrToLower(h.key()),
                                h.raw_value().empty() ? h.value() : h.raw_value());
    }
  } else {
    info.merged_headers = true;
    for (const auto& h : http.headers()) {
      info.headers.emplace_back(absl::AsciiStrToLower(h.key()), h.value());
    }
  }
  if (!attrs.source().certificate().empty()) {
    info.cert_kind = HttpRequestInfo::CertKind::kEnvoyUrlEncodedPem;
    info.cert = attrs.source().certificate();
  }
  auto it = attrs.context_extensions().find("popguard_route");
  if (it != attrs.context_extensions().end()) info.route_key = it->second;
  return info;
}

void ToCheckResponse(const Decision& d, auth::CheckResponse* resp) {
  if (d.allow) {
    resp->mutable_status()->set_code(0);
    auto* ok = resp->mutable_ok_response();
    // Overwrite, never append: the upstream must see popguard's values only.
    for (const auto& [k, v] : d.upstream_headers) AddHeader(ok->mutable_headers(), k, v, false);
    for (const auto& k : d.upstream_headers_to_remove) ok->add_headers_to_remove(k);
    for (const auto& [k, v] : d.response_headers) {
      AddHeader(ok->mutable_response_headers_to_add(), k, v, false);
    }
    return;
  }
  resp->mutable_status()->set_code(GrpcStatusCodeFor(d.reason));
  resp->mutable_status()->set_message(std::string(ReasonCode(d.reason)));
  auto* denied = resp->mutable_denied_response();
  denied->mutable_status()->set_code(static_cast<envoy::type::v3::StatusCode>(d.http_status));
  // WWW-Authenticate may carry several challenges: append, do not overwrite.
  // The metadata answer's content-type replaces the one Envoy's local reply
  // would add.
  for (const auto& [k, v] : d.response_headers) {
    AddHeader(denied->mutable_headers(), k, v, k != "content-type");
  }
  if (!d.response_body.empty()) denied->set_body(d.response_body);
  AddHeader(denied->mutable_headers(), "x-popguard-reason", std::string(ReasonCode(d.reason)),
            false);
  // A diagnostics probe's report goes to the client as the denial's body.
  if (!d.diagnostics_report.empty()) {
    AddHeader(denied->mutable_headers(), "content-type", "application/json", false);
    denied->set_body(d.diagnostics_report);
  }
}

}  // namespace popguard
