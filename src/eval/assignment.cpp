#include "psam/eval/assignment.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <limits>

#include "psam/util/error.h"

namespace psam::eval {

std::vector<int64_t> linear_assignment(const at::Tensor& cost) {
  PSAM_CHECK(cost.dim() == 2 && cost.size(0) == cost.size(1),
             fmt::format("linear_assignment: expected a square [n,n] cost matrix, got shape {}",
                         c10::str(cost.sizes())));
  PSAM_CHECK(cost.is_floating_point(), "linear_assignment: expected a floating-point cost matrix");
  const at::Tensor c = cost.to(torch::kCPU, torch::kDouble).contiguous();
  PSAM_CHECK(torch::isfinite(c).all().item<bool>(),
             "linear_assignment: cost matrix has NaN or infinite entries");
  const int64_t n = c.size(0);
  const double* a = c.data_ptr<double>();
  constexpr double kInf = std::numeric_limits<double>::infinity();

  // Columns are numbered 1..n; column 0 is a virtual start column holding the row being
  // inserted. Invariant: cost[i][j] - row_pot[i] - col_pot[j] >= 0, with equality on matched
  // pairs, so every augmentation along a shortest (reduced-cost) path keeps the matching optimal.
  std::vector<double> row_pot(n + 1, 0.0), col_pot(n + 1, 0.0);
  std::vector<int64_t> row_of_col(n + 1, 0);  // 1-based row matched to each column; 0 = free
  std::vector<int64_t> prev_col(n + 1, 0);    // predecessor on the shortest path tree
  std::vector<double> dist(n + 1);
  std::vector<char> done(n + 1);

  for (int64_t row = 1; row <= n; ++row) {
    row_of_col[0] = row;
    std::fill(dist.begin(), dist.end(), kInf);
    std::fill(done.begin(), done.end(), 0);
    int64_t col = 0;
    // Dijkstra over columns until a free column is reached.
    do {
      done[col] = 1;
      const int64_t r = row_of_col[col];
      const double* cost_row = a + (r - 1) * n;
      double delta = kInf;
      int64_t next = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (done[j]) continue;
        const double reduced = cost_row[j - 1] - row_pot[r] - col_pot[j];
        if (reduced < dist[j]) {
          dist[j] = reduced;
          prev_col[j] = col;
        }
        if (dist[j] < delta) {
          delta = dist[j];
          next = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (done[j]) {
          row_pot[row_of_col[j]] += delta;
          col_pot[j] -= delta;
        } else {
          dist[j] -= delta;
        }
      }
      col = next;
    } while (row_of_col[col] != 0);
    // Flip the matching along the path back to the virtual column.
    while (col != 0) {
      const int64_t before = prev_col[col];
      row_of_col[col] = row_of_col[before];
      col = before;
    }
  }

  std::vector<int64_t> column(n);
  for (int64_t j = 1; j <= n; ++j) column[row_of_col[j] - 1] = j - 1;
  return column;
}

}  // namespace psam::eval
