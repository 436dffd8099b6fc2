#include <iostream>

// Reads whole numbers from standard input until it ends and prints
// how many there were, their sum, the smallest, the largest and the
// integer average.
int main() {
    long long x;
    long long count = 0, sum = 0, lo = 0, hi = 0;
    while (std::cin >> x) {
        if (count == 0 || x < lo) lo = x;
        if (count == 0 || x > hi) hi = x;
        sum += x;
        count++;
    }
    if (count == 0) {
        std::cout << "no numbers\n";
        return 0;
    }
    std::cout << "count: " << count << "\n";
    std::cout << "sum: " << sum << "\n";
    std::cout << "min: " << lo << "\n";
    std::cout << "max: " << hi << "\n";
    std::cout << "average: " << sum / count << "\n";
    return 0;
}
