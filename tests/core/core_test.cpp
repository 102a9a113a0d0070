#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "core/exact_sum.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optimizer.h"
#include "core/params.h"
#include "core/rng.h"

using namespace metacat;

TEST(Rng, SameKeySameStreamDifferentKeyDifferentStream) {
  Rng a(7, 3, 4, Stream::kTrainTask), b(7, 3, 4, Stream::kTrainTask);
  Rng c(7, 3, 5, Stream::kTrainTask), d(7, 3, 4, Stream::kEvalTask);
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    same_c += x == c.next_u64();
    same_d += x == d.next_u64();
  }
  EXPECT_EQ(same_c, 0);
  EXPECT_EQ(same_d, 0);
}

TEST(Rng, UniformAndNormalMoments) {
  Rng r(1);
  double s = 0, s2 = 0, n1 = 0, n2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    s += u;
    s2 += u * u;
    double z = r.normal();
    n1 += z;
    n2 += z * z;
  }
  EXPECT_NEAR(s / n, 0.5, 0.005);
  EXPECT_NEAR(s2 / n - 0.25, 1.0 / 12, 0.003);
  EXPECT_NEAR(n1 / n, 0.0, 0.01);
  EXPECT_NEAR(n2 / n, 1.0, 0.02);
}

TEST(Rng, RandintUnbiasedAndSampleDistinct) {
  Rng r(2);
  std::vector<int> counts(6);
  for (int i = 0; i < 60000; ++i) counts[r.randint(6)]++;
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  for (int64_t k : {1, 5, 20, 100}) {
    auto v = r.sample(100, k);
    std::set<int64_t> s(v.begin(), v.end());
    EXPECT_EQ(static_cast<int64_t>(s.size()), k);
    for (auto x : v) EXPECT_TRUE(x >= 0 && x < 100);
  }
  auto big = r.sample(1000000, 10);
  EXPECT_EQ(std::set<int64_t>(big.begin(), big.end()).size(), 10u);
}

TEST(Model, PyTorchDefaultInitBoundsAndShapes) {
  ModelSpec s;
  s.name = "conv4";
  s.input_shape = {1, 28, 28};
  s.outputs = 5;
  s.width = 16;
  auto m = make_model(s);
  Params p = m->init(3);
  ASSERT_EQ(p.names.size(), 18u);  // 4 x (conv w, b, bn w, b) + head w, b
  const auto& w = p.at("conv1.weight");
  EXPECT_EQ(w.sizes().vec(), (std::vector<int64_t>{16, 16, 3, 3}));
  const double bound = 1.0 / std::sqrt(16.0 * 9);
  EXPECT_LE(w.abs().max().item<double>(), bound);
  // Variance of U(-b, b) is b^2 / 3.
  EXPECT_NEAR(w.var().item<double>(), bound * bound / 3, bound * bound / 3 * 0.1);
  EXPECT_TRUE(p.at("bn2.weight").eq(1).all().item<bool>());
  EXPECT_EQ(p.at("head.weight").sizes().vec(), (std::vector<int64_t>{5, 16}));
  torch::Tensor x = torch::rand({7, 1, 28, 28});
  EXPECT_EQ(m->forward(p, x, Mode::kTrain).sizes().vec(), (std::vector<int64_t>{7, 5}));
  // Same seed, same values; other seed, other values.
  EXPECT_EQ(checksum(m->init(3)), checksum(p));
  EXPECT_NE(checksum(m->init(4)), checksum(p));
}

TEST(Model, UnknownOrMismatchedModelIsAUserError) {
  ModelSpec s;
  s.name = "resnet";
  s.input_shape = {8};
  EXPECT_THROW(make_model(s), std::runtime_error);
  s.name = "conv4";
  EXPECT_THROW(make_model(s), std::runtime_error);
}

TEST(Loss, AucMatchesPairCounting) {
  Rng r(5);
  std::vector<double> s(200), y(200);
  for (int i = 0; i < 200; ++i) {
    y[i] = r.uniform() < 0.4;
    s[i] = std::round(r.normal() * 3) + y[i];  // ties on purpose
  }
  double num = 0, den = 0;
  for (int i = 0; i < 200; ++i)
    for (int j = 0; j < 200; ++j)
      if (y[i] > 0.5 && y[j] < 0.5) {
        den += 1;
        num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
  EXPECT_NEAR(auc(s, y), num / den, 1e-12);
  EXPECT_TRUE(std::isnan(auc({1, 2}, {1, 1})));
}

TEST(Optimizer, AdamFirstStepAndSgd) {
  torch::Tensor p = torch::tensor({1.0, -2.0, 3.0}, torch::kFloat64);
  torch::Tensor g = torch::tensor({0.5, -0.1, 0.0}, torch::kFloat64);
  std::vector<torch::Tensor> ps{p.clone()}, gs{g};
  OptimizerSpec spec;
  spec.lr = 0.1;
  Optimizer adam(spec, ps);
  adam.step(ps, gs);
  // First Adam step: m_hat = g, v_hat = g^2, update = lr * g / (|g| + eps).
  torch::Tensor expect = p - 0.1 * g / (g.abs() + 1e-8);
  EXPECT_TRUE(torch::allclose(ps[0], expect, 1e-12, 1e-12));
  spec.name = "sgd";
  std::vector<torch::Tensor> qs{p.clone()};
  Optimizer sgd(spec, qs);
  sgd.step(qs, gs);
  EXPECT_TRUE(torch::allclose(qs[0], p - 0.1 * g));
}

TEST(Params, ChecksumSeesEveryBit) {
  Params a;
  a.add("w", torch::tensor({1.0f, 2.0f}));
  Params b = a.detached(false);
  EXPECT_EQ(checksum(a), checksum(b));
  b.tensors[0][1] = std::nextafter(2.0f, 3.0f);
  EXPECT_NE(checksum(a), checksum(b));
}

TEST(Loss, MetricNamesAreTheKeysOfTaskMetrics) {
  for (TaskKind k : {TaskKind::kClassification, TaskKind::kRegression, TaskKind::kPreference}) {
    const bool cls = k == TaskKind::kClassification;
    auto m = task_metrics(k, torch::zeros({2, cls ? 2 : 1}),
                          cls ? torch::zeros({2}, torch::kInt64) : torch::zeros({2}));
    std::vector<std::string> keys;
    for (const auto& [name, v] : m) keys.push_back(name);
    EXPECT_EQ(keys, metric_names(k)) << to_string(k);
  }
}

// model.init: glorot draws weights from U(+-sqrt(6 / (fan_in + fan_out)))
// with zero biases; pytorch from U(+-1/sqrt(fan_in)) for both.
TEST(Model, GlorotAndPytorchInitialisations) {
  ModelSpec s;
  s.name = "conv4";
  s.input_shape = {1, 28, 28};
  s.width = 32;
  s.outputs = 3;
  Params pt = make_model(s)->init(1);
  s.init = "glorot";
  Params gl = make_model(s)->init(1);
  auto check = [](const Params& p, const std::string& name, double bound) {
    const torch::Tensor& t = p.at(name);
    EXPECT_LE(t.abs().max().item<double>(), bound) << name;
    EXPECT_GT(t.abs().max().item<double>(), 0.9 * bound) << name;  // fills its range
  };
  check(pt, "conv1.weight", 1 / std::sqrt(32.0 * 9));
  check(pt, "conv1.bias", 1 / std::sqrt(32.0 * 9));
  check(gl, "conv0.weight", std::sqrt(6.0 / (9 + 32 * 9)));
  check(gl, "conv1.weight", std::sqrt(6.0 / (32 * 9 + 32 * 9)));
  check(gl, "head.weight", std::sqrt(6.0 / (32 + 3)));
  for (const char* b : {"conv0.bias", "conv3.bias", "head.bias"})
    EXPECT_EQ(gl.at(b).abs().max().item<double>(), 0) << b;
  EXPECT_EQ(gl.at("bn2.weight").min().item<double>(), 1);
}

namespace {
std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
  return b;
}
}  // namespace

// The exact sum of the same vectors is the same bits in any order and any
// grouping (here: 64 vectors of values spread over 30 binades, summed in
// order, in reverse, shuffled, and as 1, 2, 4 and 8 partial sums that are
// then added), while a float sum of the same values changes with the order.
TEST(ExactSum, SameBitsInAnyOrderAndGrouping) {
  const size_t n = 257, tasks = 64;
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> mant(-1.f, 1.f);
  std::uniform_int_distribution<int> expo(-24, 6);
  std::vector<std::vector<float>> v(tasks, std::vector<float>(n));
  for (auto& t : v)
    for (auto& x : t) x = std::ldexp(mant(gen), expo(gen));
  auto exact = [&](const std::vector<size_t>& order, size_t groups) {
    std::vector<ExactSum> part(groups, ExactSum(n));
    for (size_t k = 0; k < order.size(); ++k) part[k % groups].add(v[order[k]].data(), 0, n);
    ExactSum all(n);
    for (size_t g = groups; g-- > 0;) all.add(part[g]);
    std::vector<float> out(n);
    all.to(out.data());
    EXPECT_EQ(all.out_of_range(), 0);
    return bits_of(out);
  };
  auto naive = [&](const std::vector<size_t>& order) {
    std::vector<float> out(n, 0.f);
    for (size_t k : order)
      for (size_t i = 0; i < n; ++i) out[i] += v[k][i];
    return bits_of(out);
  };
  std::vector<size_t> fwd(tasks);
  for (size_t k = 0; k < tasks; ++k) fwd[k] = k;
  std::vector<size_t> rev(fwd.rbegin(), fwd.rend()), shuf = fwd;
  std::shuffle(shuf.begin(), shuf.end(), gen);
  const auto ref = exact(fwd, 1);
  EXPECT_EQ(exact(rev, 1), ref);
  for (size_t groups : {2, 4, 8}) EXPECT_EQ(exact(shuf, groups), ref) << groups << " groups";
  EXPECT_NE(naive(fwd), naive(shuf)) << "the float sum should depend on the order here";
}

// Where the exact sum is a double (few values of nearby binades), the result
// is that double rounded to float; negative values, values whose low bits
// lie below 2^-64 (truncated) and subnormals behave as documented.
TEST(ExactSum, RoundsTheExactSumOnce) {
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> mant(-1.f, 1.f);
  const size_t n = 1000;
  std::vector<float> a(n), b(n), c(n);
  for (size_t i = 0; i < n; ++i)
    a[i] = mant(gen), b[i] = std::ldexp(mant(gen), -3), c[i] = std::ldexp(mant(gen), 4);
  ExactSum s(n);
  s.add(a.data(), 0, n), s.add(b.data(), 0, n), s.add(c.data(), 0, n);
  std::vector<float> out(n);
  s.to(out.data());
  std::vector<double> dout(n);
  s.to(dout.data());
  for (size_t i = 0; i < n; ++i) {
    const double exact = double(a[i]) + double(b[i]) + double(c[i]);  // exact: < 53 bits wide
    ASSERT_EQ(dout[i], exact) << i;
    ASSERT_EQ(out[i], static_cast<float>(exact)) << i;
  }
  // 2^-20 + 2^-70 keeps only 2^-20 (2^-70 is below the fixed point's last
  // bit); -3 * 2^-60 is exact; a subnormal adds nothing.
  const float tiny[3] = {std::ldexp(1.0f, -20), std::ldexp(1.0f, -70), std::ldexp(-3.0f, -60)};
  ExactSum t(1);
  for (float x : tiny) t.add(&x, 0, 1);
  const float sub = std::numeric_limits<float>::denorm_min();
  t.add(&sub, 0, 1);
  double d;
  t.to(&d);
  EXPECT_EQ(d, std::ldexp(1.0, -20) - 3.0 * std::ldexp(1.0, -60));
}

// Doubles: exact on the 2^-64 grid, the same bits in any order; bits below
// it are truncated.
TEST(ExactSum, DoublesOnTheSameGrid) {
  std::mt19937 gen(11);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const size_t n = 300;
  std::vector<std::vector<double>> v(3, std::vector<double>(n));
  for (auto& t : v)
    for (auto& x : t) x = std::ldexp(std::round(std::ldexp(u(gen), 40)), -40);  // 41-bit values
  ExactSum a(n), b(n);
  for (int k : {0, 1, 2}) a.add(v[k].data(), 0, n);
  for (int k : {2, 0, 1}) b.add(v[k].data(), 0, n);
  std::vector<double> oa(n), ob(n);
  a.to(oa.data());
  b.to(ob.data());
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(oa[i], v[0][i] + v[1][i] + v[2][i]) << i;  // exact: 43 bits at most
    ASSERT_EQ(std::memcmp(&oa[i], &ob[i], sizeof(double)), 0) << i;
  }
  ExactSum t(1);
  const double tiny = std::ldexp(1.0, -10) + std::ldexp(1.0, -70);
  t.add(&tiny, 0, 1);
  double d;
  t.to(&d);
  EXPECT_EQ(d, std::ldexp(1.0, -10));
}

// Values outside +-2^40, and non-finite ones, are counted and not added;
// the count sums like the limbs; offsets address the right elements.
TEST(ExactSum, OutOfRangeIsCountedAndOffsetsAddress) {
  ExactSum s(4);
  const float v[3] = {std::ldexp(1.0f, 40), NAN, -std::ldexp(1.0f, 39)};
  s.add(v, 1, 3);
  EXPECT_EQ(s.out_of_range(), 2);
  float out[4];
  s.to(out);
  EXPECT_EQ(out[0], 0.f);
  EXPECT_EQ(out[1], 0.f);
  EXPECT_EQ(out[2], 0.f);
  EXPECT_EQ(out[3], -std::ldexp(1.0f, 39));
  ExactSum t(4);
  t.add(s), t.add(s);
  EXPECT_EQ(t.out_of_range(), 4);
  t.to(out);
  EXPECT_EQ(out[3], -std::ldexp(1.0f, 40));  // the sum may exceed one value's range
  EXPECT_THROW(s.add(v, 2, 3), std::out_of_range);
  EXPECT_THROW(s.add(ExactSum(3)), std::invalid_argument);
}
