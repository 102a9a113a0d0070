#include "datasets/synthetic_logs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/io.h"
#include "core/rng.h"

namespace metacat {

namespace {

enum : uint64_t { kProto = 1, kCategory, kBrand, kTag, kShop, kItem, kUser, kShow, kBrandIn };

using Vec = std::vector<double>;

Vec normal_vec(Rng& r, int64_t f, double scale) {
  Vec v(f);
  for (auto& x : v) x = scale * r.normal();
  return v;
}

struct Item {
  std::string name;
  int64_t brand, shop;
  std::vector<int64_t> tags;
  double log_price;
  Vec v;
  Vec own;  // its own part of v (0.6 eps_i): only its id or its clicks reveal it
};

struct Category {
  int64_t department;
  Vec w;
  double bias, price_level;
  std::vector<int64_t> brands;
  std::vector<Item> items;
  std::vector<double> popularity;  // cumulative Zipf weights
};

std::string yaml_for(bool per_user) {
  std::string s =
      "# Written by `metacat generate` (datasets/synthetic_logs.h). Pack with\n"
      "#   metacat pack --source csv --input log.csv --schema THIS_FILE --out DIR\n"
      "columns:\n";
  s += per_user ? "  user:      {role: task}\n  category:  {role: categorical}\n"
                : "  user:      {role: user}\n  category:  {role: task}\n";
  s += "  item:      {role: item}\n"
       "  click:     {role: label}\n"
       "  log_price: {role: numeric}\n"
       "  brand:     {role: categorical}\n"
       "  shop:      {role: categorical}\n"
       "  tags:      {role: multi, separator: \"|\", max_len: 3}\n"
       "  history:   {role: sequence, separator: \" \", max_len: 10, vocabulary: item}\n"
       "  segment:   {role: categorical}\n"
       "  z:         {role: oracle}\n";
  return s;
}

}  // namespace

LogsSummary write_synthetic_logs(const LogsSpec& spec, uint64_t seed, const std::string& dir) {
  if (spec.users < 1 || spec.categories < 1 || spec.departments < 1 || spec.brands < 4 ||
      spec.shops < 1 || spec.tags < 3 || spec.latent_dim < 1 || spec.min_items < 1 ||
      spec.max_items < spec.min_items || spec.min_impressions < 1 ||
      spec.max_impressions < spec.min_impressions || !std::isfinite(spec.brand_in_category) ||
      spec.brand_in_category < 0 || !(spec.category_spread >= 0) ||
      !std::isfinite(spec.category_spread) || !(spec.taste_spread >= 0) ||
      !std::isfinite(spec.taste_spread) || !(spec.exposure_focus >= 0 && spec.exposure_focus <= 1))
    throw UserError(
        "generate: sizes must be positive, with at least 4 brands and 3 tags, each maximum "
        "at least its minimum, --brand-in-category, --category-spread and --taste-spread "
        "finite and at least 0, and --exposure-focus in [0, 1]");
  const int64_t f = spec.latent_dim;
  std::vector<Vec> proto(spec.departments), beta(spec.brands), tau(spec.tags);
  std::vector<double> premium(spec.brands), quality(spec.shops);
  for (int64_t d = 0; d < spec.departments; ++d) {
    Rng r(seed, kProto, d, Stream::kData);
    proto[d] = normal_vec(r, f, 1.0);
  }
  for (int64_t b = 0; b < spec.brands; ++b) {
    Rng r(seed, kBrand, b, Stream::kData);
    beta[b] = normal_vec(r, f, 0.7);
    premium[b] = r.normal();
  }
  for (int64_t t = 0; t < spec.tags; ++t) {
    Rng r(seed, kTag, t, Stream::kData);
    tau[t] = normal_vec(r, f, 0.5);
  }
  for (int64_t s = 0; s < spec.shops; ++s) {
    Rng r(seed, kShop, s, Stream::kData);
    quality[s] = 0.3 * r.normal();
  }
  std::vector<Category> cats(spec.categories);
  std::vector<std::vector<int64_t>> of_department(spec.departments);
  int64_t items = 0;
  for (int64_t c = 0; c < spec.categories; ++c) {
    Rng r(seed, kCategory, c, Stream::kData);
    Category& k = cats[c];
    k.department = r.randint(spec.departments);
    of_department[k.department].push_back(c);
    k.w = normal_vec(r, f, spec.category_spread);
    for (int64_t j = 0; j < f; ++j) k.w[j] += proto[k.department][j];
    k.bias = 0.3 * r.normal();
    k.price_level = 3 + 0.5 * r.normal();
    k.brands = r.sample(spec.brands, 4);
    std::vector<Vec> within(4, Vec(f, 0.0));  // gamma of each of its brands, times S
    if (spec.brand_in_category > 0)
      for (int64_t j = 0; j < 4; ++j) {
        Rng rb(seed, kBrandIn, (static_cast<uint64_t>(c) << 32) | static_cast<uint64_t>(j),
               Stream::kData);
        within[j] = normal_vec(rb, f, spec.brand_in_category);
      }
    const double size = spec.min_items / std::pow(1.0 - r.uniform(), 1.0 / 1.2);
    const int64_t n = std::min<int64_t>(spec.max_items, static_cast<int64_t>(size));
    double cum = 0;
    for (int64_t i = 0; i < n; ++i) {
      Rng ri(seed, kItem, (static_cast<uint64_t>(c) << 32) | static_cast<uint64_t>(i),
             Stream::kData);
      Item it;
      char name[48];
      std::snprintf(name, sizeof name, "c%03lld-i%05lld", static_cast<long long>(c),
                    static_cast<long long>(i));
      it.name = name;
      const int64_t which = ri.randint(4);
      it.brand = k.brands[which];
      it.shop = ri.randint(spec.shops);
      it.tags = ri.sample(spec.tags, 1 + ri.randint(3));
      it.log_price = k.price_level + 0.3 * premium[it.brand] + 0.3 * ri.normal();
      it.v = normal_vec(ri, f, 0.6);
      it.own = it.v;
      for (int64_t j = 0; j < f; ++j) {
        double t = 0;
        for (int64_t g : it.tags) t += tau[g][j];
        it.v[j] +=
            k.w[j] + beta[it.brand][j] + t / static_cast<double>(it.tags.size()) + within[which][j];
      }
      k.items.push_back(std::move(it));
      cum += 1.0 / static_cast<double>(i + 1);
      k.popularity.push_back(cum);
    }
    items += n;
  }

  std::filesystem::create_directories(dir);
  const auto put_vec = [](std::ostream& o, const Vec& v, bool end = true) {
    char b[32];
    for (double x : v) {
      std::snprintf(b, sizeof b, ",%.17g", x);
      o << b;
    }
    if (end) o << "\n";
  };
  const auto write_csv = [&](const char* name, const std::function<void(std::ostream&)>& body) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    atomic_write(path, [&](const std::string& tmp) {
      std::ofstream o(tmp);
      if (!o) throw IoError("generate: cannot write " + tmp);
      body(o);
      o.flush();
      if (!o) throw IoError("generate: writing " + tmp + " failed (disk full?)");
    });
  };
  const auto header = [f](std::ostream& o, const std::string& head, const std::string& vecs) {
    o << head;
    for (char v : vecs)
      for (int64_t j = 0; j < f; ++j) o << "," << v << j;
    o << "\n";
  };
  const char* const latents_files[] = {"latents-departments.csv", "latents-categories.csv",
                                       "latents-items.csv", "latents-users.csv",
                                       "latents-spec.csv"};
  if (!spec.latents)
    for (const char* name : latents_files)
      std::filesystem::remove(std::filesystem::path(dir) / name);
  if (spec.latents) {
    write_csv("latents-spec.csv", [&](std::ostream& o) {
      char b[96];
      o << "name,value\n";
      for (const auto& [name, value] :
           {std::pair<const char*, double>{"category_spread", spec.category_spread},
            {"taste_spread", spec.taste_spread},
            {"exposure_focus", spec.exposure_focus}}) {
        std::snprintf(b, sizeof b, "%s,%.17g\n", name, value);
        o << b;
      }
    });
    write_csv("latents-departments.csv", [&](std::ostream& o) {
      header(o, "department", "u");
      for (int64_t d = 0; d < spec.departments; ++d) {
        o << "d" << d;
        put_vec(o, proto[d]);
      }
    });
    write_csv("latents-categories.csv", [&](std::ostream& o) {
      header(o, "category,department", "w");
      for (int64_t c = 0; c < spec.categories; ++c) {
        o << "c" << c << ",d" << cats[c].department;
        put_vec(o, cats[c].w);
      }
    });
    write_csv("latents-items.csv", [&](std::ostream& o) {
      header(o, "item,category,department,log_price,price_level,category_bias,shop_quality", "ve");
      char b[160];
      for (int64_t c = 0; c < spec.categories; ++c)
        for (const Item& it : cats[c].items) {
          std::snprintf(b, sizeof b, "%s,c%lld,d%lld,%.17g,%.17g,%.17g,%.17g", it.name.c_str(),
                        static_cast<long long>(c), static_cast<long long>(cats[c].department),
                        it.log_price, cats[c].price_level, cats[c].bias, quality[it.shop]);
          o << b;
          put_vec(o, it.v, false);
          put_vec(o, it.own);
        }
    });
  }
  std::ostringstream user_latents;
  if (spec.latents) header(user_latents, "user,departments,kappa", "p");
  LogsSummary sum;
  sum.users = spec.users;
  sum.items = items;
  sum.categories = spec.categories;
  int64_t clicks = 0;
  const std::string csv = (std::filesystem::path(dir) / "log.csv").string();
  atomic_write(csv, [&](const std::string& tmp) {
    std::ofstream out(tmp);
    if (!out) throw IoError("generate: cannot write " + tmp);
    out << "user,category,item,click,log_price,brand,shop,tags,history,segment,z\n";
    char buf[64];
    for (int64_t u = 0; u < spec.users; ++u) {
      Rng r(seed, kUser, u, Stream::kData);
      std::vector<int64_t> depts{r.randint(spec.departments)};
      if (r.uniform() < 0.4 && spec.departments > 1) {
        int64_t second = r.randint(spec.departments - 1);
        depts.push_back(second >= depts[0] ? second + 1 : second);
      }
      Vec p = normal_vec(r, f, spec.taste_spread);
      for (int64_t j = 0; j < f; ++j) {
        double m = 0;
        for (int64_t d : depts) m += proto[d][j];
        p[j] += m / static_cast<double>(depts.size());
      }
      const double kappa = std::fabs(0.5 + 0.3 * r.normal());
      const double shown = spec.min_impressions / std::pow(1.0 - r.uniform(), 1.0 / 1.5);
      const int64_t n = std::min<int64_t>(spec.max_impressions, static_cast<int64_t>(shown));
      std::snprintf(buf, sizeof buf, "u%05lld", static_cast<long long>(u));
      const std::string user = buf;
      std::snprintf(buf, sizeof buf, "d%lld", static_cast<long long>(depts[0]));
      const std::string segment = buf;
      if (spec.latents) {
        user_latents << user << ",";
        for (size_t j = 0; j < depts.size(); ++j) user_latents << (j ? "|d" : "d") << depts[j];
        char b[32];
        std::snprintf(b, sizeof b, ",%.17g", kappa);
        user_latents << b;
        put_vec(user_latents, p);
      }
      std::unordered_set<int64_t> seen;
      std::deque<std::string> history;
      for (int64_t k = 0; k < n; ++k) {
        Rng rs(seed, (uint64_t{kShow} << 40) | static_cast<uint64_t>(u), static_cast<uint64_t>(k),
               Stream::kData);
        int64_t c = -1, i = -1;
        for (int tries = 0; tries < 20 && i < 0; ++tries) {
          const auto& mine = of_department[depts[rs.randint(static_cast<int64_t>(depts.size()))]];
          c = rs.uniform() < spec.exposure_focus && !mine.empty()
                  ? mine[rs.randint(static_cast<int64_t>(mine.size()))]
                  : rs.randint(spec.categories);
          const auto& pop = cats[c].popularity;
          const double x = rs.uniform() * pop.back();
          const int64_t pick = std::lower_bound(pop.begin(), pop.end(), x) - pop.begin();
          const int64_t key = (c << 32) | pick;
          if (seen.insert(key).second) i = pick;
        }
        if (i < 0) continue;  // this user has seen what it would be shown
        const Category& cat = cats[c];
        const Item& it = cat.items[i];
        double dot = 0;
        for (int64_t j = 0; j < f; ++j) dot += p[j] * it.v[j];
        const double z = 1.5 * dot / std::sqrt(3.0 * static_cast<double>(f)) -
                         kappa * (it.log_price - cat.price_level) + quality[it.shop] + cat.bias -
                         1.5;
        const int y = rs.uniform() < 1.0 / (1.0 + std::exp(-z)) ? 1 : 0;
        std::string tags, hist;
        for (int64_t g : it.tags) tags += (tags.empty() ? "t" : "|t") + std::to_string(g);
        for (const auto& h : history) hist += (hist.empty() ? "" : " ") + h;
        std::snprintf(buf, sizeof buf, "%.4f", it.log_price);
        const std::string price = buf;
        std::snprintf(buf, sizeof buf, "%.5f", z);
        out << user << ",c" << c << "," << it.name << "," << y << "," << price << ",b" << it.brand
            << ",s" << it.shop << "," << tags << "," << hist << "," << segment << "," << buf
            << "\n";
        ++sum.rows;
        if (y) {
          ++clicks;
          history.push_back(it.name);
          if (history.size() > 10) history.pop_front();
        }
      }
    }
    out.flush();
    if (!out) throw IoError("generate: writing " + tmp + " failed (disk full?)");
  });
  if (spec.latents)
    write_csv("latents-users.csv", [&](std::ostream& o) { o << user_latents.str(); });
  for (bool per_user : {true, false}) {
    const std::string path =
        (std::filesystem::path(dir) / (per_user ? "schema-user.yaml" : "schema-category.yaml"))
            .string();
    atomic_write_text(path, yaml_for(per_user));
  }
  sum.click_rate = sum.rows ? static_cast<double>(clicks) / static_cast<double>(sum.rows) : 0;
  return sum;
}

}  // namespace metacat
