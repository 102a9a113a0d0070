#pragma once
// A synthetic shop's interaction log, written as the CSV and the schemas a
// real log would come with (`metacat generate`), so that real logs and this
// one take the same path: `metacat pack --source csv --schema`.
//
// Model (every draw seeded and counter-based; f = latent_dim):
//   department prototypes   u_d ~ N(0, I_f)
//   category c              department d(c) uniform, w_c = u_d(c) + C N(0, I),
//                           bias b_c ~ N(0, 0.3^2), log-price level m_c ~ N(3, 0.5^2),
//                           4 brands of its own drawn from the brands
//   brand b                 beta_b ~ 0.7 N(0, I), price premium pi_b ~ N(0, 1)
//   tag t                   tau_t ~ 0.5 N(0, I)
//   shop s                  quality q_s ~ N(0, 0.3^2)
//   item i of category c    brand among c's 4, shop uniform, 1-3 distinct tags,
//                           log price = m_c + 0.3 pi_b + 0.3 N(0, 1),
//                           v_i = w_c + beta_b + mean(tau of its tags) + 0.6 eps_i
//                                 + S gamma_bc
//                           (eps_i its own: only its id or its clicks reveal it;
//                           gamma_bc ~ N(0, I) the brand's place within the
//                           category, shared by the items of that brand there:
//                           no sum of a brand row and a category row carries
//                           it. S = brand_in_category, default 0: none)
//   user u                  segment = a department s(u) (and with probability 0.4
//                           a second one), p_u = mean of their u_d + T N(0, I),
//                           price sensitivity k_u = |N(0.5, 0.3^2)|
//   true score              z(u, i) = 1.5 p_u.v_i / sqrt(3 f) - k_u (log price_i - m_c)
//                                     + q_s + b_c - 1.5 (users are shown their
//                                     departments, which they mostly like: the
//                                     offset brings clicks to about half)
//   click                   y ~ Bernoulli(sigmoid(z))
//   impressions             per user Pareto(1.5) many from min_impressions, capped;
//                           each drawn from the user's departments' categories
//                           (probability F) or uniformly from all; its item by
//                           popularity (Zipf 1.0 within the category); an item
//                           is shown to a user at most once
//   history                 the user's clicked items before the impression, the
//                           last 10, oldest first (rows of one task are drawn
//                           in any order: a support row's history can name a
//                           query row's item as clicked; a split of each
//                           task by time is left for later)
// The scales C (category_spread, default 0.5) and T (taste_spread, default
// 0.5) and the exposure focus F (default 0.8) set how much of a category's
// direction or a user's taste its department gives away, and how much the
// categories a user is shown tell of its departments: at T well above 1 and
// F low, a new user's labels are most of what there is to learn about it.
// T and C scale the same draws; F changes which impressions are drawn (and
// so the draws after them). The defaults' log is the original one, byte for
// byte. The -1.5 in z brings clicks to about half at the defaults only.
// Columns: user, category, item, click, log_price, brand, shop, tags
// (|-separated), history (space-separated items), segment, z (the true
// score: the oracle). Items are named by category ("c017-i00042"), so a
// test category's items are new items.
// Schemas written: schema-user.yaml (a task per user: new users are the
// cold start) and schema-category.yaml (a task per category, the user a
// coded column: new categories are the cold start).
#include <cstdint>
#include <string>

namespace metacat {

struct LogsSpec {
  int64_t users = 2000;
  int64_t categories = 60;
  int64_t departments = 6;
  int64_t brands = 40;
  int64_t shops = 30;
  int64_t tags = 24;
  int64_t latent_dim = 8;
  int64_t min_items = 20;   // per category, Pareto(1.2) above it
  int64_t max_items = 400;  // per category
  int64_t min_impressions = 20;
  int64_t max_impressions = 200;
  double brand_in_category = 0;  // S above
  double category_spread = 0.5;  // C above
  double taste_spread = 0.5;     // T above
  double exposure_focus = 0.8;   // F above, in [0, 1]
  // Also write the draws behind z (latents-*.csv, below): what an ideal
  // learner that knows the click model would know.
  bool latents = false;
};

struct LogsSummary {
  int64_t rows = 0, users = 0, items = 0, categories = 0;
  double click_rate = 0;
};

// Writes DIR/log.csv, DIR/schema-user.yaml and DIR/schema-category.yaml;
// with spec.latents also
//   latents-users.csv  user, departments (|-separated), kappa, p0..p{f-1}
//   latents-items.csv  item, category, department, log_price (unrounded),
//                      price_level, category_bias, shop_quality, v0..v{f-1},
//                      e0..e{f-1} (the item's own part of v, 0.6 eps_i)
//   latents-categories.csv   category, department, w0..w{f-1}
//   latents-departments.csv  department, u0..u{f-1}
//   latents-spec.csv         name, value: category_spread, taste_spread,
//                            exposure_focus (the priors behind the draws)
// from which every row's z is 1.5 p.v / sqrt(3 f) - kappa (log_price -
// price_level) + shop_quality + category_bias - 1.5. Without spec.latents,
// latents files an earlier run left in DIR are removed (they would not
// belong to the new log).
LogsSummary write_synthetic_logs(const LogsSpec& spec, uint64_t seed, const std::string& dir);

}  // namespace metacat
