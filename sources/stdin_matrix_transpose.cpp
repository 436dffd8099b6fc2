#include <cstdio>

// Reads a matrix with scanf (rows, columns, then the values row by row)
// and prints its transpose and the sum of every row of the original.
int main() {
    int rows, cols;
    if (std::scanf("%d %d", &rows, &cols) != 2 || rows < 1 || cols < 1 || rows > 8 || cols > 8) {
        std::printf("bad size\n");
        return 1;
    }
    int m[8][8];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            if (std::scanf("%d", &m[r][c]) != 1) {
                std::printf("missing value at row %d, column %d\n", r + 1, c + 1);
                return 1;
            }
    std::printf("transpose (%dx%d):\n", cols, rows);
    for (int c = 0; c < cols; c++) {
        for (int r = 0; r < rows; r++) std::printf("%s%d", r ? " " : "", m[r][c]);
        std::printf("\n");
    }
    for (int r = 0; r < rows; r++) {
        int sum = 0;
        for (int c = 0; c < cols; c++) sum += m[r][c];
        std::printf("row %d sum: %d\n", r + 1, sum);
    }
    return 0;
}
