#include <chrono>
#include <iostream>

// Sorts ten numbers with bubble sort and prints how long the sort took,
// measured with std::chrono::steady_clock. The time changes from run to
// run, so this program is never a training example (it validates as
// nondeterministic).
int main() {
    int a[] = {29, 3, 71, 14, 8, 56, 42, 1, 90, 17};
    const int n = sizeof a / sizeof a[0];
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n - 1; i++)
        for (int j = 0; j < n - 1 - i; j++)
            if (a[j] > a[j + 1]) {
                int t = a[j];
                a[j] = a[j + 1];
                a[j + 1] = t;
            }
    auto stop = std::chrono::steady_clock::now();
    for (int i = 0; i < n; i++) std::cout << a[i] << (i + 1 < n ? " " : "\n");
    std::cout << "Time = " << std::chrono::duration<double, std::milli>(stop - start).count() << " ms\n";
    return 0;
}
