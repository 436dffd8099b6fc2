#include <iostream>

int main() {
    int values[] = {12, 45, 7, 89, 23, 56, 3};
    const int count = sizeof(values) / sizeof(values[0]);
    int maximum = values[0];
    int minimum = values[0];
    int sum = 0;
    for (int i = 0; i < count; ++i) {
        if (values[i] > maximum) {
            maximum = values[i];
        }
        if (values[i] < minimum) {
            minimum = values[i];
        }
        sum += values[i];
    }
    std::cout << "Count: " << count << std::endl;
    std::cout << "Maximum: " << maximum << std::endl;
    std::cout << "Minimum: " << minimum << std::endl;
    std::cout << "Sum: " << sum << std::endl;
    std::cout << "Average (integer): " << sum / count << std::endl;
    return 0;
}
