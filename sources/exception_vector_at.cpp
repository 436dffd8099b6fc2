#include <iostream>
#include <stdexcept>
#include <vector>

int main() {
    std::vector<int> data = {5, 10, 15, 20, 25};
    const std::size_t indices[] = {1, 4, 10, 0};
    int sum = 0;
    for (std::size_t index : indices) {
        try {
            int value = data.at(index);
            sum += value;
            std::cout << "data[" << index << "] = " << value << std::endl;
        } catch (const std::out_of_range&) {
            std::cout << "Index " << index << " is out of range" << std::endl;
        }
    }
    std::cout << "Sum of valid reads: " << sum << std::endl;
    return 0;
}
