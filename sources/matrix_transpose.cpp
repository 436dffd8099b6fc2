#include <iostream>
#include <vector>

using Matrix = std::vector<std::vector<int>>;

Matrix transpose(const Matrix& m) {
    Matrix t(m[0].size(), std::vector<int>(m.size(), 0));
    for (std::size_t i = 0; i < m.size(); ++i) {
        for (std::size_t j = 0; j < m[i].size(); ++j) {
            t[j][i] = m[i][j];
        }
    }
    return t;
}

void print(const Matrix& m) {
    for (const auto& row : m) {
        for (std::size_t j = 0; j < row.size(); ++j) {
            std::cout << (j ? " " : "") << row[j];
        }
        std::cout << std::endl;
    }
}

int main() {
    Matrix m = {{1, 2, 3, 4}, {5, 6, 7, 8}};
    std::cout << "Original 2x4:" << std::endl;
    print(m);
    std::cout << "Transposed 4x2:" << std::endl;
    print(transpose(m));
    int trace = 0;
    Matrix square = {{2, 0, 1}, {3, 5, 4}, {6, 7, 9}};
    for (std::size_t i = 0; i < square.size(); ++i) {
        trace += square[i][i];
    }
    std::cout << "Trace of 3x3: " << trace << std::endl;
    return 0;
}
