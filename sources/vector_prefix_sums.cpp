#include <vector>
#include <iostream>

int main() {
    std::vector<int> values = {2, 4, 6, 8, 10};
    std::vector<int> prefix(values.size(), 0);
    int running = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
        running += values[i];
        prefix[i] = running;
    }
    std::cout << "Values:";
    for (int v : values) {
        std::cout << " " << v;
    }
    std::cout << std::endl;
    std::cout << "Prefix sums:";
    for (int p : prefix) {
        std::cout << " " << p;
    }
    std::cout << std::endl;
    std::cout << "Sum of elements 2..4: " << prefix[4] - prefix[1] << std::endl;
    return 0;
}
