#include <iostream>
#include <iomanip>

int main() {
    const double prices[] = {1.5, 2.25, 3.75, 4.5};
    const int count = 4;
    double total = 0.0;
    double highest = prices[0];
    for (int i = 0; i < count; ++i) {
        total += prices[i];
        if (prices[i] > highest) {
            highest = prices[i];
        }
    }
    std::cout << std::fixed << std::setprecision(2);
    std::cout << "Total: " << total << std::endl;
    std::cout << "Average: " << total / count << std::endl;
    std::cout << "Highest: " << highest << std::endl;
    std::cout << "Half of total: " << total / 2 << std::endl;
    return 0;
}
