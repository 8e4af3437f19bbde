#include "service/tools/cli/probe.h"

#include <curl/curl.h>

#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/authn/client_cert.h"
#include "service/authn/diagnostics.h"
#include "service/common/file.h"
#include "service/common/strings.h"
#include "service/jose/base64url.h"
#include "service/tools/mint/probe.h"

namespace popguard {
namespace {

struct Answer {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;

  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }
};

size_t OnBody(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  // A report is a few kilobytes; anything far larger is not one.
  if (body->size() + size * n > (1 << 20)) return 0;
  body->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* out) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(out);
  const std::string_view line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    headers->emplace_back(ToLower(line.substr(0, colon)),
                          std::string(StripWhitespace(line.substr(colon + 1))));
  } else if (line.starts_with("HTTP/")) {
    headers->clear();  // a new response (after a 100 Continue): keep only its headers
  }
  return size * n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Send makes the probe request; "" or what went wrong.
std::string Send(const FlagValues& args, const ProbeHeaderValues& probe, Answer* answer) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return "curl_easy_init failed";
  std::unique_ptr<curl_slist, SlistDeleter> list;
  auto add = [&](const std::string& line) {
    list.reset(curl_slist_append(list.release(), line.c_str()));
  };
  add("DPoP: " + probe.dpop);
  add("PopGuard-Probe: " + probe.statement);
  for (const std::string& h : args.GetAll("header")) add(h);
  const std::string url = args.Get("url");
  const std::string method = args.Get("method", "GET");
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &answer->headers);
  const std::string cert = args.Get("cert"), key = args.Get("key"), ca = args.Get("cacert");
  if (!cert.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, cert.c_str());
  if (!key.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, key.c_str());
  if (!ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return absl::StrCat(url, ": ", curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer->status);
  return "";
}

// ReportOf finds the report: the body (Caddy, Traefik, Envoy) or the
// popguard-probe-report header (nginx auth_request passes no body).
std::optional<JsonValue> ReportOf(const Answer& a) {
  if (auto body = ParseJson(a.body); body.ok() && body->Find("differences") != nullptr) {
    return *std::move(body);
  }
  const std::string header = a.Header(kProbeReportHeader);
  if (header.empty()) return std::nullopt;
  std::optional<std::string> json = Base64UrlDecode(header);
  if (!json.has_value()) return std::nullopt;
  auto parsed = ParseJson(*json);
  if (!parsed.ok() || parsed->Find("differences") == nullptr) return std::nullopt;
  return *std::move(parsed);
}

std::string Member(const JsonValue& v, std::string_view name) {
  const std::string* s = v.FindString(name);
  return s != nullptr ? *s : "";
}

std::string Side(const JsonValue* side) {
  if (side == nullptr) return "?";
  const JsonValue* query = side->Find("query");
  return absl::StrCat(Member(*side, "method"), " ", Member(*side, "url"),
                      "  query: ", query != nullptr && query->bool_value() ? "yes" : "no",
                      "  client certificate: ", Member(*side, "client_certificate"));
}

}  // namespace

std::string FormatProbeReport(const JsonValue& report) {
  const JsonValue* diffs = report.Find("differences");
  const size_t n = diffs != nullptr ? diffs->array_items().size() : 0;
  std::string out = absl::StrCat(
      "popguard diagnostics (api ", Member(report, "api"), ", route ", Member(report, "route"),
      "): ", n == 0 ? "no difference" : absl::StrCat(n, n == 1 ? " difference" : " differences"),
      "\n  sent:     ", Side(report.Find("sent")), "\n  received: ", Side(report.Find("received")),
      "\n  DPoP htu check: ", Member(report, "dpop_htu_check"), "\n");
  if (const JsonValue* headers = report.Find("forwarded_headers");
      headers != nullptr && !headers->array_items().empty()) {
    absl::StrAppend(&out, "  forwarded headers:\n");
    for (const JsonValue& h : headers->array_items()) {
      const std::string value = Member(h, "value");
      absl::StrAppend(&out, "    ", Member(h, "name"), value.empty() ? "" : ": " + value, " — ",
                      Member(h, "use"), "\n");
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const JsonValue& d = diffs->array_items()[i];
    absl::StrAppend(&out, "\n", i + 1, ". ", Member(d, "what"), ": ", Member(d, "sent"), " -> ",
                    Member(d, "received"), "\n   finding: ", Member(d, "finding"),
                    "\n   hop:     ", Member(d, "hop"), "\n   fix:     ", Member(d, "fix"), "\n");
  }
  return out;
}

int RunProbe(const FlagValues& args) {
  std::string thumbprint;
  if (args.Has("cert")) {
    if (!args.Has("key")) {
      std::cerr << "popguard-cli: probe: --cert needs --key\n";
      return 2;
    }
    auto pem = ReadFileToString(args.Get("cert"), 1 << 20);
    auto der = pem.ok() ? CertificateDer(*pem) : absl::StatusOr<std::string>(pem.status());
    if (!der.ok()) {
      std::cerr << "popguard-cli: probe: --cert: " << der.status().message() << "\n";
      return 2;
    }
    thumbprint = CertificateThumbprint(*der);
  }
  // A fresh key for every probe: it proves nothing but that the statement and
  // the proof come from one sender, and is thrown away.
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(JwsAlg::kES256);
  if (!key.ok()) {
    std::cerr << "popguard-cli: probe: " << key.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<ProbeHeaderValues> probe = MintProbe(
      *key,
      {.method = args.Get("method", "GET"), .url = args.Get("url"), .cert_thumbprint = thumbprint});
  if (!probe.ok()) {
    std::cerr << "popguard-cli: probe: --url: " << probe.status().message() << "\n";
    return 2;
  }
  Answer answer;
  if (std::string error = Send(args, *probe, &answer); !error.empty()) {
    std::cerr << "popguard-cli: probe: " << error << "\n";
    return 2;
  }
  std::optional<JsonValue> report = ReportOf(answer);
  if (!report.has_value()) {
    const std::string reason = answer.Header("x-popguard-reason");
    std::cerr << "popguard-cli: probe: no report; the answer was HTTP " << answer.status
              << (reason.empty() ? "" : " reason " + reason) << ".\n"
              << (answer.status >= 200 && answer.status < 300
                      ? "The probe reached the application: popguard was not asked, or the "
                        "route is not listed in diagnostics.routes.\n"
                      : "Diagnostics are off for this route (diagnostics.enabled, routes, path), "
                        "or popguard refused the probe (see the reason).\n");
    return 2;
  }
  if (args.Has("json")) {
    std::cout << SerializeJson(*report) << "\n";
  } else {
    std::cout << FormatProbeReport(*report);
  }
  const JsonValue* diffs = report->Find("differences");
  return diffs != nullptr && !diffs->array_items().empty() ? 1 : 0;
}

}  // namespace popguard
