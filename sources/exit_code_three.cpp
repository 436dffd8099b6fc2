#include <iostream>

int checkValues(const int values[], int count) {
    int failures = 0;
    for (int i = 0; i < count; ++i) {
        if (values[i] < 0) {
            ++failures;
        }
    }
    return failures;
}

int main() {
    const int values[] = {4, -1, 7, -3, 0, -8};
    int failures = checkValues(values, 6);
    std::cout << "Negative values found: " << failures << std::endl;
    std::cout << "Exiting with code " << failures << std::endl;
    return failures;
}
