// CreateOrder load generator in C++ (grpc++ generic stub): a light client, as pgbench's is C.
//
// CONCURRENCY closed-loop callers on one completion queue and one thread: each call is a prebuilt
// CreateOrderRequest body after a fresh random request_id field (field 1, 36 bytes: a uuid4
// string), with the tenant's x-api-key, a 30 s deadline and no channel retries. Replies are
// awaited and their status checked, their bytes not parsed. Only calls that complete inside the
// measured window [start + warmup, start + warmup + seconds] count. Prints one JSON object:
// {"latencies_ms": [...], "errors": N, "error_samples": [...]}, as the Python load generator of
// bench_create_order.py does (ORDERMESH_BENCH_CLIENT=cpp builds and runs this one instead).
//
// Build: g++ -O2 -std=c++17 loadgen.cc $(pkg-config --cflags --libs grpc++) -o loadgen
// Run:   loadgen TARGET CONCURRENCY WARMUP_S SECONDS API_KEY BODY_HEX

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
const char* kMethod = "/ordermesh.v1.OrderService/CreateOrder";

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string Uuid4(std::mt19937_64& rng) {
  static const char* digits = "0123456789abcdef";
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  std::string s;
  for (int i = 15; i >= 0; --i) s.push_back(digits[(a >> (i * 4)) & 0xf]);
  for (int i = 15; i >= 0; --i) s.push_back(digits[(b >> (i * 4)) & 0xf]);
  return s.substr(0, 8) + "-" + s.substr(8, 4) + "-" + s.substr(12, 4) + "-" + s.substr(16, 4) + "-" +
         s.substr(20, 12);
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
  }
  return out;
}

struct Call {
  grpc::ClientContext context;
  grpc::ByteBuffer reply;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> rpc;
  Clock::time_point began;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: loadgen TARGET CONCURRENCY WARMUP_S SECONDS API_KEY BODY_HEX\n");
    return 2;
  }
  const std::string target = argv[1];
  const int concurrency = std::stoi(argv[2]);
  const double warmup = std::stod(argv[3]), seconds = std::stod(argv[4]);
  const std::string api_key = argv[5], body = FromHex(argv[6]);

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // a retried call would hide an error and stretch a latency
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  std::mt19937_64 rng(std::random_device{}());

  const auto start = Clock::now();
  const auto lo = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const auto hi = lo + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  long errors = 0;
  std::set<std::string> samples;

  auto launch = [&]() {
    auto* call = new Call;
    call->context.AddMetadata("x-api-key", api_key);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::string request;
    request.push_back(static_cast<char>((1 << 3) | 2));  // field 1, length-delimited
    request.push_back(static_cast<char>(36));
    request += Uuid4(rng);
    request += body;
    grpc::Slice slice(request);
    grpc::ByteBuffer buffer(&slice, 1);
    call->began = Clock::now();
    call->rpc = stub.PrepareUnaryCall(&call->context, kMethod, buffer, &queue);
    call->rpc->StartCall();
    call->rpc->Finish(&call->reply, &call->status, call);
  };

  int in_flight = 0;
  for (; in_flight < concurrency; ++in_flight) launch();
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && queue.Next(&tag, &ok)) {
    auto* call = static_cast<Call*>(tag);
    const auto done = Clock::now();
    --in_flight;
    if (!call->status.ok()) {
      ++errors;
      if (samples.size() < 5) {
        samples.insert(std::to_string(call->status.error_code()) + ": " + call->status.error_message());
      }
    } else if (done >= lo && done <= hi) {
      latencies.push_back(std::chrono::duration<double, std::milli>(done - call->began).count());
    }
    delete call;
    if (Clock::now() < hi) {
      launch();
      ++in_flight;
    }
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }

  std::printf("{\"latencies_ms\": [");
  for (size_t i = 0; i < latencies.size(); ++i) std::printf(i ? ",%.4f" : "%.4f", latencies[i]);
  std::printf("], \"errors\": %ld, \"error_samples\": [", errors);
  bool first = true;
  for (const auto& s : samples) {
    std::printf(first ? "\"%s\"" : ",\"%s\"", Escape(s).c_str());
    first = false;
  }
  std::printf("]}\n");
  return 0;
}
