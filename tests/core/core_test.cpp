#include <gtest/gtest.h>
#include "core/rng.h"
TEST(Rng, Placeholder) { EXPECT_EQ(1, 1); }
